// A small JSON reader/writer: enough for safetensors headers and model configs.
// Parse errors are ErrorCode::Format naming `what` and the byte offset.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tessera {

struct Json {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<Json> arr;
  std::vector<std::pair<std::string, Json>> obj;  // in document order
  const Json* get(const std::string& key) const {
    for (auto& kv : obj)
      if (kv.first == key) return &kv.second;
    return nullptr;
  }
};

// The document in [p, p + n) or s; trailing characters are an error.
Json parse_json(const char* p, size_t n, const std::string& what);
Json parse_json(const std::string& s, const std::string& what);
// A JSON string literal (quotes and escapes included).
std::string json_quote(const std::string& s);
// Shortest decimal that reads back as the same double.
std::string json_number(double v);
// An integral Number within +-9e15 (exactly representable) into *out.
bool json_int(const Json& v, int64_t* out);

}  // namespace tessera
