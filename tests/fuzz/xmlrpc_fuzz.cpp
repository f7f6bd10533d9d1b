// libFuzzer target: the XML-RPC request decoder (supervisor/xmlrpc/codec.cpp)
// that parses every POST /RPC2 body with expat.
//
// Any input must either decode or be refused with a message — never crash,
// hang or recurse without bound (kMaxDepth). What decodes must survive the
// encoder: its params written back as a methodCall decode again, to the
// same method and the same number of params (strings may differ only where
// the encoder replaced bytes XML cannot carry).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "supervisor/xmlrpc/value.hpp"
#include "tests/fuzz/fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace vigil::supervisor::xmlrpc;
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    std::string error;
    auto call = decode_call(body, error);
    if (!call) {
        VIGIL_FUZZ_CHECK(!error.empty());
        return 0;
    }
    std::string again = "<?xml version=\"1.0\"?><methodCall><methodName>m</methodName><params>";
    for (const Value& v : call->params) {
        again += "<param>";
        encode_value(v, again);
        again += "</param>";
    }
    again += "</params></methodCall>";
    std::string error2;
    auto back = decode_call(again, error2);
    // The re-encoded call can outgrow the size limit (escaping, base64).
    if (again.size() <= kMaxBody) {
        VIGIL_FUZZ_CHECK(back.has_value());
        VIGIL_FUZZ_CHECK(back->params.size() == call->params.size());
    }
    (void)encode_fault(3, call->method);
    return 0;
}
