// One client's side of the line protocol, as a handler sees it: the bytes it sent, cut into
// requests, and the replies that wait to go out. Every rule of docs/protocol.md that is not the
// lesson lives here (framing, a line too long, bad input, --max-n) and so does the one guard every
// server shares (a client that has gone), so that each step's handler reads as its step: recv,
// answer each request, send. Every server uses it, the floor (bench/floor.cpp) too.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "protocol.hpp"

namespace fibs {

class Conversation {
public:
    Conversation(int client, unsigned max_n) : client_(client), max_n_(max_n) {}

    // What recv() returned: bytes, or none when the client is done sending (its last line, even
    // without "\n", is still a request).
    void heard(std::string_view bytes);
    // The next request, or nothing: no complete line yet, or the conversation is over. Before a
    // request that brings the work owed since the last look to a unit (protocol::work_of, about
    // 1.2 ms), the replies made so far go out and the client is asked whether it is still there
    // (client_left, net.hpp): work for a client that has gone is work for nobody, so then
    // nothing, and the conversation is over.
    // After a stop (stop_requested), the requests already read are still answered, up to a
    // unit of work in all: a batch of small ones whole, a flood of costly ones not.
    std::optional<protocol::Request> next();
    void answer(const protocol::Request& req) { protocol::append_reply(out_, req); }  // fib(n) here, or its error
    // fib(n) from elsewhere (a worker), or kNotComputed: the job was dropped (a stop); then the
    // conversation ends, the replies made so far go out, the rest of the batch is dropped.
    void answer(std::uint64_t value);
    static constexpr std::uint64_t kNotComputed = ~std::uint64_t{0};

    // The same check for one request computed elsewhere, later (a worker's queued job): false
    // when it is a unit of work or more and its client has gone by now.
    static bool wanted(int client, unsigned n);

    std::string& replies() { return out_; }  // what waits to be sent; the handler sends it, then clears it
    // False once the client is done sending, has sent a line too long, or has gone: send the
    // replies, then close.
    bool open() const { return open_; }

private:
    void end();  // no more requests: the replies made go out, then the handler closes
    int client_;
    unsigned max_n_;
    protocol::LineFramer framer_;
    std::string out_;
    double owed_ = 0;  // work done since the client was last asked, in units of protocol::work_of
    double after_stop_ = 0;  // work done since a stop, in the same units
    bool open_ = true;
};

}  // namespace fibs
