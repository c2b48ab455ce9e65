// mmapFile(path: string) -> ArrayBuffer
//
// Maps a whole regular file MAP_PRIVATE with PROT_READ | PROT_WRITE and hands it to JavaScript as
// an external ArrayBuffer whose finalizer unmaps it. The mapping is copy-on-write: pages are read
// from the file on first touch, and a write (a tensor updated in place, say) gives the process its
// own copy of that page — the file itself never changes and a stray write cannot fault. Missing
// files, directories, non-regular and empty files throw an Error naming the path.
#include <napi.h>

#include <cerrno>
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

#if defined(STRATA_HAVE_MMAP)
[[noreturn]] void fail(Napi::Env env, const std::string& path, const std::string& what) {
  throw Napi::Error::New(env, std::string(kOp) + ": '" + path + "': " + what);
}

void unmap(Napi::Env /*env*/, void* data, size_t* length) {
  munmap(data, *length);
  delete length;
}
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
  const size_t length = static_cast<size_t>(st.st_size);
  void* data = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  const int e = errno;
  close(fd);  // the mapping keeps its own reference to the file
  if (data == MAP_FAILED) fail(env, path, std::string("cannot map: ") + std::strerror(e));
  size_t* hint = new size_t(length);
  napi_value result;
  const napi_status status = napi_create_external_arraybuffer(
      env, data, length,
      [](napi_env e2, void* d, void* h) { unmap(Napi::Env(e2), d, static_cast<size_t*>(h)); }, hint,
      &result);
  if (status != napi_ok) {
    munmap(data, length);
    delete hint;
    fail(env, path, "cannot expose the mapping as an ArrayBuffer (external buffers not allowed?)");
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
