// safetensors files: named tensors (F32, F16, BF16) + string metadata. The reader
// checks the header's length against the file before parsing its JSON, and every
// tensor's offsets against its shape and the data block; the writer writes a
// temporary file next to the target and renames it over. Errors: Io (cannot
// open / write), Format (malformed, naming the file and what is wrong).
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace tessera {

struct SafetensorsFile {
  std::vector<std::pair<std::string, Tensor>> tensors;  // in file order
  std::map<std::string, std::string> metadata;
  const Tensor* find(const std::string& name) const;    // nullptr when absent
  const Tensor& at(const std::string& name) const;      // throws Format naming the tensor and the file
};
SafetensorsFile read_safetensors(const std::string& path);
SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& what);
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace tessera
