// libFuzzer target for the line framer and the replies. It checks the protocol's promises, not
// just "no crash":
//   - however the bytes are cut into chunks, the replies are the same;
//   - one reply line per request line, and the request lines are what a plain split gives;
//   - every reply is digits (and then the right fib(n)) or one printable "error: ..." line.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "answer_key.hpp"
#include "protocol.hpp"

namespace {

using fibs::protocol::LineFramer;

constexpr unsigned kMaxN = 20;  // keeps fib cheap; the range checks are the same for any max-n

[[noreturn]] void fail(const char* what, const std::string& detail) {
    std::fprintf(stderr, "invariant broken: %s: %s\n", what, detail.c_str());
    std::abort();
}

struct Outcome {
    std::string replies;
    std::size_t requests = 0;
    bool too_long = false;
};

// What a server does with this input, fed in chunks of `chunk` bytes.
Outcome serve(std::string_view input, std::size_t chunk) {
    Outcome o;
    LineFramer framer;
    auto drain = [&] {
        while (auto line = framer.next_line()) {
            ++o.requests;
            fibs::protocol::append_reply(o.replies, *line, kMaxN);
        }
    };
    for (std::size_t at = 0; at < input.size() && !framer.too_long(); at += chunk) {
        framer.feed(input.substr(at, chunk));
        drain();
    }
    framer.end_input();
    drain();
    if (framer.too_long()) {
        o.too_long = true;
        o.replies += fibs::protocol::kLineTooLong;
    }
    return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    std::size_t chunk = 1 + data[0] % 16;  // the first byte picks how the rest arrives
    std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);

    Outcome whole = serve(input, input.size() + 1);
    Outcome cut = serve(input, chunk);
    if (whole.replies != cut.replies) fail("chunking changed the replies", std::to_string(chunk));

    // The request lines a plain split gives, up to the first overlong one.
    std::vector<std::string_view> lines;
    bool too_long = false;
    for (std::size_t start = 0; start < input.size();) {
        std::size_t nl = input.find('\n', start);
        std::size_t end = nl == std::string_view::npos ? input.size() : nl;
        if (end - start > fibs::protocol::kMaxLine) {
            too_long = true;
            break;
        }
        lines.push_back(input.substr(start, end - start));
        start = end + 1;
    }
    if (too_long != whole.too_long) fail("overlong line", std::to_string(input.size()));
    if (whole.requests != lines.size()) fail("request count", std::to_string(whole.requests));

    std::size_t reply_lines = 0, at = 0;
    for (std::size_t i = 0; at < whole.replies.size(); ++i) {
        std::size_t nl = whole.replies.find('\n', at);
        if (nl == std::string::npos) fail("reply without newline", whole.replies.substr(at));
        std::string_view reply(whole.replies.data() + at, nl - at);
        at = nl + 1;
        ++reply_lines;
        if (reply.rfind("error: ", 0) == 0) {
            for (unsigned char c : reply) {
                if (c < 0x20 || c > 0x7e) fail("unprintable byte in an error line", std::string(reply));
            }
            continue;
        }
        if (reply.empty() || reply.find_first_not_of("0123456789") != std::string_view::npos) {
            fail("reply is neither digits nor an error", std::string(reply));
        }
        auto req = fibs::protocol::parse_request(lines.at(i), kMaxN);
        if (!req.ok() || fibs::expected_reply(req.n) != reply) fail("wrong fib", std::string(reply));
    }
    if (reply_lines != lines.size() + (too_long ? 1 : 0)) fail("one reply per request", std::to_string(reply_lines));
    return 0;
}
