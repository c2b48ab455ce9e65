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
#include <mutex>
#include <string>
#include <vector>

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
// A live mapping: what readMappedRows needs to read its bytes from the file instead of through it.
struct Mapping {
  void* base;
  size_t length;
  uint64_t file_offset;  // of base
  std::string path;
  dev_t dev;
  ino_t ino;
  int fd = -1;  // opened on first readMappedRows: a model maps many ranges and reads rows of few
};

std::mutex registry_mutex;
std::vector<Mapping*> registry;

void unregister(Mapping* m) {
  std::lock_guard<std::mutex> lock(registry_mutex);
  for (size_t i = 0; i < registry.size(); i++)
    if (registry[i] == m) {
      registry[i] = registry.back();
      registry.pop_back();
      break;
    }
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
  Mapping* hint = new Mapping{base, span, start, path, st.st_dev, st.st_ino};
  {
    std::lock_guard<std::mutex> lock(registry_mutex);
    registry.push_back(hint);
  }
  napi_value result;
  const napi_status status = napi_create_external_arraybuffer(
      env, static_cast<uint8_t*>(base) + (offset - start), static_cast<size_t>(length),
      [](napi_env, void*, void* h) {
        Mapping* m = static_cast<Mapping*>(h);
        unregister(m);
        munmap(m->base, m->length);
        if (m->fd >= 0) close(m->fd);
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

// A typed array's bytes.
struct Bytes {
  uint8_t* data;
  size_t length;
};

Bytes typed_bytes(const Napi::CallbackInfo& info, size_t index, const char* op, const char* name) {
  if (!info[index].IsTypedArray()) checks::throw_type_error(info.Env(), op, std::string(name) + " must be a typed array");
  auto ta = info[index].As<Napi::TypedArray>();
  uint8_t* data = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  if (ta.ByteLength() > 0 && data == nullptr) checks::throw_type_error(info.Env(), op, std::string(name) + " is detached");
  return {data, ta.ByteLength()};
}

// readMappedRows(src: Uint8Array, ld: bytes between rows, rowBytes, ids: Int32Array, out: Uint8Array) -> boolean
//
// Copies rows ids[i] of src (row r at byte r * ld, rowBytes long) into out, one after another,
// reading them from the file with pread when src lies in a mapping made by mmapFile; returns false,
// copying nothing, when it does not (or the file at that path is no longer the mapped one). An
// embedding lookup touches a few rows of a large table: read through the mapping, each one faults
// in the kernel's fault-around window (64 KiB) and those pages stay resident, ≈ 6 MB over 128
// sampled tokens of a 32k-row table; read from the file, they stay in the page cache only.
// Mappings are copy-on-write, so this suits tables nothing writes to (quantized, frozen weights).
Napi::Value ReadMappedRows(const Napi::CallbackInfo& info) {
  constexpr const char* op = "readMappedRows";
  Napi::Env env = info.Env();
  checks::require_arg_count(info, op, 5);
  const Bytes src = typed_bytes(info, 0, op, "src");
  const int64_t ld = checks::non_negative_integer(info, 1, op, "ld");
  const int64_t row_bytes = checks::non_negative_integer(info, 2, op, "rowBytes");
  if (!info[3].IsTypedArray() || info[3].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    checks::throw_type_error(env, op, "ids must be an Int32Array");
  auto ids_array = info[3].As<Napi::TypedArray>();
  const int32_t* ids = reinterpret_cast<const int32_t*>(typed_bytes(info, 3, op, "ids").data);
  const size_t count = ids_array.ElementLength();
  const Bytes out = typed_bytes(info, 4, op, "out");
  if (static_cast<__int128>(count) * row_bytes > static_cast<__int128>(out.length))
    checks::throw_type_error(env, op, "out holds fewer than ids.length * rowBytes bytes");
  for (size_t i = 0; i < count; i++) {
    if (ids[i] < 0 || static_cast<__int128>(ids[i]) * ld + row_bytes > static_cast<__int128>(src.length))
      checks::throw_type_error(env, op, "row " + std::to_string(ids[i]) + " is outside src");
  }
#if defined(STRATA_HAVE_MMAP)
  int fd = -1;
  uint64_t src_offset = 0;  // of src in the file
  {
    std::lock_guard<std::mutex> lock(registry_mutex);
    for (Mapping* m : registry) {
      const uint8_t* base = static_cast<const uint8_t*>(m->base);
      if (src.data < base || src.data + src.length > base + m->length) continue;
      if (m->fd == -1) {
        m->fd = open(m->path.c_str(), O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (m->fd >= 0 && (fstat(m->fd, &st) != 0 || st.st_dev != m->dev || st.st_ino != m->ino)) {
          close(m->fd);
          m->fd = -2;  // the path names another file now: read through the mapping
        }
        if (m->fd == -1) m->fd = -2;
      }
      fd = m->fd;
      src_offset = m->file_offset + static_cast<uint64_t>(src.data - base);
      break;
    }
  }
  if (fd < 0) return Napi::Boolean::New(env, false);
  for (size_t i = 0; i < count; i++) {
    uint8_t* dst = out.data + i * row_bytes;
    uint64_t at = src_offset + static_cast<uint64_t>(ids[i]) * static_cast<uint64_t>(ld);
    int64_t left = row_bytes;
    while (left > 0) {
      const ssize_t n = pread(fd, dst, static_cast<size_t>(left), static_cast<off_t>(at));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        // the file shrank or failed under the mapping (whose pages past the end would now fault)
        const std::string why = n < 0 ? std::strerror(errno) : "the file is shorter than when it was mapped";
        throw Napi::Error::New(env, std::string(op) + ": cannot read row " + std::to_string(ids[i]) + ": " + why);
      }
      dst += n;
      at += static_cast<uint64_t>(n);
      left -= n;
    }
  }
  return Napi::Boolean::New(env, true);
#else
  return Napi::Boolean::New(env, false);
#endif
}

}  // namespace

void register_mmap(Napi::Env env, Napi::Object exports) {
  exports.Set("mmapFile", Napi::Function::New(env, MmapFile, kOp));
  exports.Set("readMappedRows", Napi::Function::New(env, ReadMappedRows, "readMappedRows"));
}

}  // namespace strata::bindings
