#include "protocol.hpp"

#include <charconv>
#include <array>

#include "fib.hpp"

namespace fibs::protocol {

void LineFramer::feed(std::string_view bytes) {
    if (start_ > 0 && start_ >= buf_.size() / 2) {  // drop consumed bytes now and then
        buf_.erase(0, start_);
        start_ = 0;
    }
    buf_.append(bytes);
}

std::optional<std::string_view> LineFramer::next_line() {
    if (too_long_) return std::nullopt;
    std::string_view rest(buf_.data() + start_, buf_.size() - start_);
    auto nl = rest.find('\n');
    if (nl == std::string_view::npos) {
        if (rest.size() > kMaxLine) {
            too_long_ = true;
        } else if (ended_ && !rest.empty()) {
            start_ = buf_.size();
            return rest;
        }
        return std::nullopt;
    }
    if (nl > kMaxLine) {
        too_long_ = true;
        return std::nullopt;
    }
    start_ += nl + 1;
    return rest.substr(0, nl);
}

namespace {

std::string_view trim(std::string_view s) {
    if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
    auto blank = [](char c) { return c == ' ' || c == '\t'; };
    while (!s.empty() && blank(s.front())) s.remove_prefix(1);
    while (!s.empty() && blank(s.back())) s.remove_suffix(1);
    return s;
}

}  // namespace

std::string quote(std::string_view text) {
    constexpr std::size_t kShown = 32;
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "\"";
    for (unsigned char c : text.substr(0, kShown)) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 0xf];
        }
    }
    out += '"';
    if (text.size() > kShown) out += "...";
    return out;
}

Request parse_request(std::string_view line, unsigned max_n) {
    std::string_view text = trim(line);
    if (text.empty()) return {0, "error: empty request\n"};
    for (char c : text) {
        if (c < '0' || c > '9') return {0, "error: not a number: " + quote(text) + "\n"};
    }
    unsigned long long n = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc{} || end != text.data() + text.size() || n > max_n) {
        return {0, "error: n out of range 0.." + std::to_string(max_n) + ": " + quote(text) + "\n"};
    }
    return {static_cast<unsigned>(n), {}};
}

namespace {
// work_of for every n a request can carry, computed once: a lookup costs nothing beside fib(1).
constexpr std::array<double, kMaxFibN + 1> kWork = [] {
    std::array<double, kMaxFibN + 1> w{};
    w[kCheckN] = 1;
    for (unsigned n = kCheckN + 1; n <= kMaxFibN; ++n) w[n] = w[n - 1] * 1.618033988749895;
    for (unsigned n = kCheckN; n-- > 0;) w[n] = w[n + 1] / 1.618033988749895;
    return w;
}();
}  // namespace

double work_of(unsigned n) { return n <= kMaxFibN ? kWork[n] : kWork[kMaxFibN]; }

void append_value(std::string& out, std::uint64_t value) {
    char digits[24];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
    (void)ec;  // 24 bytes hold any uint64
    out.append(digits, end);
    out += '\n';
}

void append_reply(std::string& out, const Request& req) {
    if (req.ok()) {
        append_value(out, fib(req.n));
    } else {
        out += req.error;
    }
}

void append_reply(std::string& out, std::string_view line, unsigned max_n) {
    append_reply(out, parse_request(line, max_n));
}

}  // namespace fibs::protocol
