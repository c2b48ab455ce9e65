// mmapFile(path: string, offset?: number, length?: number) -> ArrayBuffer
//
// Maps a regular file (or the byte range [offset, offset + length) of it; default the whole file)
// MAP_PRIVATE with PROT_READ | PROT_WRITE and hands it to JavaScript as an external ArrayBuffer
// whose finalizer unmaps it. One buffer holds at most 4 GiB (Node 20 builds external ArrayBuffers
// as Buffers, whose length is capped there); larger files are mapped range by range. The mapping is copy-on-write: pages are read
// from the file on first touch, and a write (a tensor updated in place, say) gives the process its
// own copy of that page — the file itself never changes and a stray write cannot fault. Missing
// files, directories, non-regular and empty files throw an Error naming the path.
#include <napi.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define STRATA_HAVE_MMAP 1
#endif

#include "bindings.h"
#include "checks.h"

namespace strata::bindings {

namespace {

constexpr const char* kOp = "mmapFile";

constexpr uint64_t kMaxLength = uint64_t{1} << 32;

#if defined(STRATA_HAVE_MMAP)
[[noreturn]] void fail(Napi::Env env, const std::string& path, const std::string& what) {
  throw Napi::Error::New(env, std::string(kOp) + ": '" + path + "': " + what);
}

// What the finalizer unmaps: the page-aligned mapping behind the buffer.
struct Mapping {
  void* base;
  size_t length;
};
#endif

Napi::Value MmapFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  checks::require_arg_count(info, kOp, 1);
  if (!info[0].IsString()) checks::throw_type_error(env, kOp, "path must be a string");
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  if (path.find('\0') != std::string::npos) checks::throw_type_error(env, kOp, "path contains a NUL byte");
#if defined(STRATA_HAVE_MMAP)
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(env, path, std::string("cannot open: ") + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int e = errno;
    close(fd);
    fail(env, path, std::string("cannot stat: ") + std::strerror(e));
  }
  if (S_ISDIR(st.st_mode)) {
    close(fd);
    fail(env, path, "is a directory, not a file");
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    fail(env, path, "is not a regular file");
  }
  if (st.st_size == 0) {
    close(fd);
    fail(env, path, "is empty");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  uint64_t offset = 0, length = size;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    offset = static_cast<uint64_t>(checks::non_negative_integer(info, 1, kOp, "offset"));
    length = size > offset ? size - offset : 0;
  }
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    length = static_cast<uint64_t>(checks::non_negative_integer(info, 2, kOp, "length"));
  }
  if (offset > size || length > size - offset || length == 0) {
    close(fd);
    fail(env, path, "range [" + std::to_string(offset) + ", " + std::to_string(offset + length) +
                        ") is empty or not inside the file's " + std::to_string(size) + " bytes");
  }
  if (length > kMaxLength) {
    close(fd);
    fail(env, path, "a single mapping is limited to 4 GiB (asked for " + std::to_string(length) + " bytes)");
  }
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t start = offset / page * page;
  const size_t span = static_cast<size_t>(offset + length - start);
  void* base = mmap(nullptr, span, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, static_cast<off_t>(start));
  const int e = errno;
  close(fd);  // the mapping keeps its own reference to the file
  if (base == MAP_FAILED) fail(env, path, std::string("cannot map: ") + std::strerror(e));
  Mapping* hint = new Mapping{base, span};
  napi_value result;
  const napi_status status = napi_create_external_arraybuffer(
      env, static_cast<uint8_t*>(base) + (offset - start), static_cast<size_t>(length),
      [](napi_env, void*, void* h) {
        Mapping* m = static_cast<Mapping*>(h);
        munmap(m->base, m->length);
        delete m;
      },
      hint, &result);
  if (status != napi_ok) {
    // Node may already have run the finalizer on failure, so nothing is released here: the
    // length checks above keep this path unreachable in practice.
    fail(env, path, "cannot expose the mapping as an ArrayBuffer");
  }
  return Napi::Value(env, result);
#else
  checks::throw_type_error(env, kOp, "memory mapping is not supported on this platform");
#endif
}

}  // namespace

void register_mmap(Napi::Env env, Napi::Object exports) {
  exports.Set("mmapFile", Napi::Function::New(env, MmapFile, kOp));
}

}  // namespace strata::bindings
