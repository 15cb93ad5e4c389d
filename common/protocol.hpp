// The line protocol every server speaks. docs/protocol.md is the same rules in prose.
//
//   request: decimal digits, one line ending in "\n"; a "\r" before the "\n" and spaces or tabs
//            around the number are ignored.
//   reply:   fib(n) and "\n", or one line "error: <what was wrong>\n".
//
// Every request line gets exactly one reply line, in order, however the bytes arrive.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace fibs::protocol {

// A line may hold at most this many bytes before its "\n". Past it the connection is answered
// kLineTooLong and closed: a client cannot make the server buffer without bound.
inline constexpr std::size_t kMaxLine = 128;

// The largest n a server accepts unless --max-n says otherwise: one request stays under a second
// (what fib(n) costs is in fib.hpp).
inline constexpr unsigned kDefaultMaxN = 40;

// A server checks that its client is still there (Conversation::next) before the work it has
// done since it last looked reaches fib(kCheckN), about 1.2 ms: work for a client that has gone is
// work for nobody, so a client that leaves costs at most about that much more. work_of(n) is that
// work in units of fib(kCheckN) (each n costs 1.618 times n - 1). The check (a send and a
// getsockopt) costs under 1% of a unit, measured with fib-bench against fib-loop.
inline constexpr unsigned kCheckN = 30;
double work_of(unsigned n);

inline constexpr std::string_view kLineTooLong = "error: line too long\n";
inline constexpr std::string_view kServerFull = "error: server full\n";

// Cuts a byte stream into lines. Feed it whatever recv() returned; take lines while there are.
class LineFramer {
public:
    void feed(std::string_view bytes);
    // The input has ended: a last line without "\n" still counts as a request.
    void end_input() { ended_ = true; }
    // The next complete line without its "\n" (after end_input(), also the unterminated rest).
    // Valid until the next feed().
    std::optional<std::string_view> next_line();
    // A line went past kMaxLine: answer kLineTooLong and close the connection.
    bool too_long() const { return too_long_; }
    // Bytes received but not yet returned as a line.
    std::size_t pending() const { return buf_.size() - start_; }

private:
    std::string buf_;
    std::size_t start_ = 0;
    bool too_long_ = false;
    bool ended_ = false;
};

// A parsed request: n, or the error line to send back instead.
struct Request {
    unsigned n = 0;
    std::string error;  // empty when the request is good
    bool ok() const { return error.empty(); }
};

Request parse_request(std::string_view line, unsigned max_n);

// Appends "<value>\n".
void append_value(std::string& out, std::uint64_t value);

// The reply to a parsed request: "<fib(n)>\n", computing fib right here, or its error line.
void append_reply(std::string& out, const Request& req);
// The same, from the line: parse_request, then append_reply.
void append_reply(std::string& out, std::string_view line, unsigned max_n);

// Text for an error message: at most 32 bytes, in quotes, unprintable bytes as \xNN.
std::string quote(std::string_view text);

}  // namespace fibs::protocol
