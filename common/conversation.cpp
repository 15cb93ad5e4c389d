#include "conversation.hpp"

#include "net.hpp"
#include "stop.hpp"

namespace fibs {

void Conversation::heard(std::string_view bytes) {
    framer_.feed(bytes);
    if (bytes.empty()) {
        framer_.end_input();
        open_ = false;
    }
}

void Conversation::answer(std::uint64_t value) {
    if (value == kNotComputed) return end();
    protocol::append_value(out_, value);
}

bool Conversation::wanted(int client, unsigned n) { return protocol::work_of(n) < 1 || !client_gone(client); }

void Conversation::end() {
    framer_ = {};  // the rest is for nobody
    open_ = false;
}

std::optional<protocol::Request> Conversation::next() {
    if (framer_.too_long()) return std::nullopt;  // said already: the conversation is over
    std::optional<std::string_view> line = framer_.next_line();
    if (!line) {
        if (framer_.too_long()) {
            out_ += protocol::kLineTooLong;
            open_ = false;
        }
        return std::nullopt;
    }
    protocol::Request req = protocol::parse_request(*line, max_n_);
    if (stop_requested() && req.ok() && (after_stop_ += protocol::work_of(req.n)) > 1) {
        end();  // a stop: what was read is answered up to a unit of work, not a flood's worth
        return std::nullopt;
    }
    if (req.ok() && (owed_ += protocol::work_of(req.n)) >= 1) {
        owed_ = 0;
        if (client_left(client_, out_)) {
            end();  // the rest of its batch is for nobody
            return std::nullopt;
        }
    }
    return req;
}

}  // namespace fibs
