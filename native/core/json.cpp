// The JSON reader/writer of core/json.h.
#include "core/json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace tessera {

namespace {

// Recursive-descent parser over a bounded buffer; errors are Format with the offset.
class JsonParser {
 public:
  JsonParser(const char* p, size_t n, const std::string& what) : p_(p), n_(n), what_(what) {}
  Json parse_document() {
    Json v = value(0);
    ws();
    if (i_ != n_) error("trailing characters after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void error(const char* msg) const {
    fail(ErrorCode::Format, what_, ": invalid JSON at byte ", i_, ": ", msg);
  }
  void ws() {
    while (i_ < n_ && (p_[i_] == ' ' || p_[i_] == '\t' || p_[i_] == '\n' || p_[i_] == '\r')) ++i_;
  }
  bool lit(const char* s) {
    size_t m = std::strlen(s);
    if (n_ - i_ >= m && std::memcmp(p_ + i_, s, m) == 0) {
      i_ += m;
      return true;
    }
    return false;
  }
  Json value(int depth) {
    if (depth > 64) error("nested too deeply");
    ws();
    if (i_ >= n_) error("unexpected end");
    Json v;
    char c = p_[i_];
    if (c == '{') {
      v.kind = Json::Object;
      ++i_;
      ws();
      if (i_ < n_ && p_[i_] == '}') {
        ++i_;
        return v;
      }
      for (;;) {
        ws();
        if (i_ >= n_ || p_[i_] != '"') error("expected a string key");
        std::string key = string();
        ws();
        if (i_ >= n_ || p_[i_] != ':') error("expected ':'");
        ++i_;
        v.obj.emplace_back(std::move(key), value(depth + 1));
        ws();
        if (i_ < n_ && p_[i_] == ',') {
          ++i_;
          continue;
        }
        if (i_ < n_ && p_[i_] == '}') {
          ++i_;
          return v;
        }
        error("expected ',' or '}'");
      }
    }
    if (c == '[') {
      v.kind = Json::Array;
      ++i_;
      ws();
      if (i_ < n_ && p_[i_] == ']') {
        ++i_;
        return v;
      }
      for (;;) {
        v.arr.push_back(value(depth + 1));
        ws();
        if (i_ < n_ && p_[i_] == ',') {
          ++i_;
          continue;
        }
        if (i_ < n_ && p_[i_] == ']') {
          ++i_;
          return v;
        }
        error("expected ',' or ']'");
      }
    }
    if (c == '"') {
      v.kind = Json::String;
      v.str = string();
      return v;
    }
    if (lit("true")) {
      v.kind = Json::Bool;
      v.b = true;
      return v;
    }
    if (lit("false")) {
      v.kind = Json::Bool;
      return v;
    }
    if (lit("null")) return v;
    if (c == '-' || (c >= '0' && c <= '9')) {
      size_t start = i_;
      while (i_ < n_ && (std::strchr("+-.eE", p_[i_]) || (p_[i_] >= '0' && p_[i_] <= '9'))) ++i_;
      std::string s(p_ + start, i_ - start);
      char* end = nullptr;
      v.kind = Json::Number;
      v.num = std::strtod(s.c_str(), &end);
      if (end != s.c_str() + s.size()) error("malformed number");
      return v;
    }
    error("unexpected character");
  }
  static void put_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }
  uint32_t hex4() {
    if (n_ - i_ < 4) error("short \\u escape");
    uint32_t cp = 0;
    for (int k = 0; k < 4; ++k) {
      char h = p_[i_++];
      cp <<= 4;
      if (h >= '0' && h <= '9') cp |= uint32_t(h - '0');
      else if (h >= 'a' && h <= 'f') cp |= uint32_t(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') cp |= uint32_t(h - 'A' + 10);
      else error("bad \\u escape");
    }
    return cp;
  }
  std::string string() {
    ++i_;  // opening quote
    std::string out;
    for (;;) {
      if (i_ >= n_) error("unterminated string");
      char c = p_[i_++];
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= n_) error("unterminated escape");
      char e = p_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00 && n_ - i_ >= 6 && p_[i_] == '\\' && p_[i_ + 1] == 'u') {
            i_ += 2;
            uint32_t lo = hex4();
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          put_utf8(out, cp);
          break;
        }
        default: error("bad escape");
      }
    }
  }

  const char* p_;
  size_t n_;
  size_t i_ = 0;
  std::string what_;
};

}  // namespace

Json parse_json(const char* p, size_t n, const std::string& what) { return JsonParser(p, n, what).parse_document(); }
Json parse_json(const std::string& s, const std::string& what) { return parse_json(s.data(), s.size(), what); }

std::string json_quote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"') out += "\\\"";
    else if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out + "\"";
}

std::string json_number(double v) {
  char buf[32];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

bool json_int(const Json& v, int64_t* out) {
  if (v.kind != Json::Number || !(std::fabs(v.num) < 9.0e15) || v.num != std::floor(v.num)) return false;
  *out = int64_t(v.num);
  return true;
}

}  // namespace tessera
