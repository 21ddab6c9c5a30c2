// safetensors files (core/safetensors.h): the reader checks before it trusts, the
// writer never leaves a half-written file.
#include "core/safetensors.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "core/error.h"
#include "core/json.h"

namespace tessera {


const Tensor* SafetensorsFile::find(const std::string& name) const {
  for (auto& kv : tensors)
    if (kv.first == name) return &kv.second;
  return nullptr;
}

const Tensor& SafetensorsFile::at(const std::string& name) const {
  const Tensor* t = find(name);
  TS_CHECK(t, ErrorCode::Format, "safetensors: no tensor named '", name, "'");
  return *t;
}

SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::string& what) {
  constexpr uint64_t kMaxHeader = 100ull << 20;
  TS_CHECK(size >= 8, ErrorCode::Format, what, ": ", size, " bytes is too short for the 8-byte header length");
  uint64_t n = 0;
  for (int k = 7; k >= 0; --k) n = (n << 8) | data[k];
  TS_CHECK(n <= kMaxHeader && n <= size - 8, ErrorCode::Format, what, ": header length ", n,
           " exceeds the file (", size, " bytes) or the limit of ", kMaxHeader, " bytes");
  Json header = parse_json(reinterpret_cast<const char*>(data + 8), size_t(n), what);
  TS_CHECK(header.kind == Json::Object, ErrorCode::Format, what, ": the header must be a JSON object");
  const uint8_t* block = data + 8 + n;
  const uint64_t block_len = size - 8 - n;
  SafetensorsFile file;
  for (auto& kv : header.obj) {
    const std::string& name = kv.first;
    const Json& e = kv.second;
    if (name == "__metadata__") {
      TS_CHECK(e.kind == Json::Object, ErrorCode::Format, what, ": __metadata__ must be an object");
      for (auto& m : e.obj) {
        TS_CHECK(m.second.kind == Json::String, ErrorCode::Format, what, ": __metadata__.", m.first,
                 " must be a string");
        file.metadata[m.first] = m.second.str;
      }
      continue;
    }
    TS_CHECK(e.kind == Json::Object, ErrorCode::Format, what, ": entry '", name, "' must be an object");
    const Json* dt = e.get("dtype");
    const Json* sh = e.get("shape");
    const Json* off = e.get("data_offsets");
    TS_CHECK(dt && dt->kind == Json::String, ErrorCode::Format, what, ": tensor '", name, "' has no dtype string");
    DType dtype;
    if (dt->str == "F32") dtype = DType::F32;
    else if (dt->str == "F16") dtype = DType::F16;
    else if (dt->str == "BF16") dtype = DType::BF16;
    else fail(ErrorCode::Unsupported, what, ": tensor '", name, "' has dtype ", dt->str, "; F32, F16 and BF16 are supported");
    TS_CHECK(sh && sh->kind == Json::Array, ErrorCode::Format, what, ": tensor '", name, "' has no shape array");
    Shape shape;
    uint64_t count = 1;
    for (const Json& d : sh->arr) {
      int64_t v = 0;
      TS_CHECK(json_int(d, &v) && v >= 0 && v < (int64_t(1) << 40), ErrorCode::Format, what, ": tensor '", name,
               "' has a bad shape entry");
      shape.push_back(v);
      count *= uint64_t(v);
      TS_CHECK(count < (uint64_t(1) << 44), ErrorCode::Format, what, ": tensor '", name, "' is too large");
    }
    int64_t b = 0, en = 0;
    TS_CHECK(off && off->kind == Json::Array && off->arr.size() == 2 && json_int(off->arr[0], &b) &&
                 json_int(off->arr[1], &en) && b >= 0 && en >= b,
             ErrorCode::Format, what, ": tensor '", name, "' has bad data_offsets");
    const uint64_t bytes = count * dtype_size(dtype);
    TS_CHECK(uint64_t(en) <= block_len && uint64_t(en - b) == bytes, ErrorCode::Format, what, ": tensor '", name,
             "' data_offsets [", b, ", ", en, "] do not fit shape ", shape_str(shape), " of ", dt->str, " in ",
             block_len, " data bytes");
    TS_CHECK(!file.find(name), ErrorCode::Format, what, ": tensor '", name, "' appears twice");
    Tensor t = Tensor::empty(shape, dtype);
    if (bytes) std::memcpy(t.raw_data(), block + b, bytes);  // little-endian host
    file.tensors.emplace_back(name, std::move(t));
  }
  return file;
}

SafetensorsFile read_safetensors(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  TS_CHECK(f, ErrorCode::Io, "cannot open '", path, "' for reading");
  const std::streamoff size = f.tellg();
  TS_CHECK(size >= 0, ErrorCode::Io, "cannot read the size of '", path, "'");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  f.seekg(0);
  TS_CHECK(size == 0 || f.read(reinterpret_cast<char*>(bytes.data()), size), ErrorCode::Io, "cannot read '", path,
           "'");
  return parse_safetensors(bytes.data(), bytes.size(), path);
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::string h = "{";
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    bool first = true;
    for (auto& kv : metadata) {
      if (!first) h += ",";
      first = false;
      h += json_quote(kv.first) + ":" + json_quote(kv.second);
    }
    h += "}";
  }
  std::vector<Tensor> data;
  uint64_t offset = 0;
  for (auto& kv : tensors) {
    const Tensor& t = kv.second;
    TS_CHECK_ARG(t.defined() && t.device() == Device::CPU, "write_safetensors: tensor '", kv.first,
                 "' must be a defined CPU tensor");
    TS_CHECK_ARG(kv.first != "__metadata__", "write_safetensors: '__metadata__' is not a tensor name");
    Tensor c = t.contiguous();
    const char* dt = c.dtype() == DType::F32 ? "F32" : c.dtype() == DType::F16 ? "F16" : "BF16";
    if (h.size() > 1) h += ",";
    h += json_quote(kv.first) + ":{\"dtype\":\"" + dt + "\",\"shape\":[";
    for (size_t i = 0; i < c.shape().size(); ++i) h += (i ? "," : "") + std::to_string(c.shape()[i]);
    h += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + c.nbytes()) + "]}";
    offset += c.nbytes();
    data.push_back(c);
  }
  h += "}";
  h.append((8 - h.size() % 8) % 8, ' ');
  // Written next to the target and renamed over it: a crash or a full disk never
  // leaves a half-written file under `path` (the old file, if any, stays intact).
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    TS_CHECK(f, ErrorCode::Io, "cannot open '", tmp, "' for writing (", std::strerror(errno), ")");
    uint8_t len[8];
    for (int k = 0; k < 8; ++k) len[k] = uint8_t(uint64_t(h.size()) >> (8 * k));
    f.write(reinterpret_cast<const char*>(len), 8);
    f.write(h.data(), std::streamsize(h.size()));
    for (const Tensor& c : data)
      if (c.nbytes()) f.write(static_cast<const char*>(c.raw_data()), std::streamsize(c.nbytes()));
    f.flush();
    if (!f) {
      std::remove(tmp.c_str());
      fail(ErrorCode::Io, "cannot write '", tmp, "' (", std::strerror(errno), ")");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    fail(ErrorCode::Io, "cannot rename '", tmp, "' to '", path, "' (", why, ")");
  }
}

}  // namespace tessera
