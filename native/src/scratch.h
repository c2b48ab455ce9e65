// Per-thread, grow-only, 64-byte-aligned scratch memory for kernels (pack buffers and the like).
// Each thread that runs a kernel keeps its buffers for its lifetime, so hot paths never allocate
// once warmed up.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

namespace strata {

class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { std::free(data_); }

  // At least `count` floats; contents are unspecified. Throws std::bad_alloc.
  float* floats(size_t count) {
    if (count > (size_t{1} << 60) / sizeof(float)) throw std::bad_alloc();
    const size_t bytes = (count * sizeof(float) + 63) & ~size_t{63};
    if (bytes > capacity_) {
      void* fresh = std::aligned_alloc(64, bytes);
      if (fresh == nullptr) throw std::bad_alloc();
      std::free(data_);
      data_ = fresh;
      capacity_ = bytes;
    }
    return static_cast<float*>(data_);
  }

 private:
  void* data_ = nullptr;
  size_t capacity_ = 0;
};

}  // namespace strata
