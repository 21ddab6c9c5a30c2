#include "core/error.h"

namespace tessera {

const char* error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument: return "ERR_TESSERA_INVALID_ARGUMENT";
    case ErrorCode::ShapeMismatch: return "ERR_TESSERA_SHAPE_MISMATCH";
    case ErrorCode::OutOfMemory: return "ERR_TESSERA_OUT_OF_MEMORY";
    case ErrorCode::Unsupported: return "ERR_TESSERA_UNSUPPORTED";
    case ErrorCode::Io: return "ERR_TESSERA_IO";
    case ErrorCode::Format: return "ERR_TESSERA_FORMAT";
    case ErrorCode::Cancelled: return "ERR_TESSERA_CANCELLED";
    case ErrorCode::Backend: return "ERR_TESSERA_BACKEND";
    case ErrorCode::Internal: return "ERR_TESSERA_INTERNAL";
  }
  return "ERR_TESSERA_INTERNAL";
}

}  // namespace tessera
