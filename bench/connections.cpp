#include "connections.hpp"

#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <exception>

#include "protocol.hpp"

namespace fibs::bench {

void Worker::run() {
    // Timers may fire up to 50 µs late by default (timer slack); open-loop sends need better.
    ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    connect_all();
    tl_.connected.count_down();
    tl_.go.wait();
    start_sending();
    loop();
    for (auto& c : conns_) c->fd.reset();
}

// Non-blocking connects, at most kBatch in flight, so no listen backlog overflows. Only connecting
// sockets are watched here: one that has connected leaves the epoll set until start_sending(), so
// what a server sends it meanwhile (its refusal, say) waits in the socket for the run to read.
void Worker::connect_all() {
    constexpr std::size_t kBatch = 128;
    connections.requested = static_cast<int>(conns_.size());
    const addrinfo* ai = nullptr;
    std::unique_ptr<Addresses> addresses;
    try {
        addresses = std::make_unique<Addresses>(cfg_.host, cfg_.port, /*passive=*/false, "cannot resolve");
        ai = addresses->first();
    } catch (const std::exception&) {
    }
    if (ai == nullptr) {
        connections.failed = connections.requested;
        return;
    }
    auto deadline = now_ns() + static_cast<std::int64_t>(cfg_.timeout_s * 1e9);
    std::size_t next = 0, in_flight = 0;
    std::vector<epoll_event> events(kBatch);
    auto failed = [this](Conn& c, int err) {
        (err == ECONNREFUSED ? connections.refused : connections.failed)++;
        c.fd.reset();
    };
    while ((next < conns_.size() || in_flight > 0) && now_ns() < deadline) {
        for (; next < conns_.size() && in_flight < kBatch; ++next) {
            Conn& c = *conns_[next];
            c.fd.reset(::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
            set_nodelay(c.fd.get());
            if (::connect(c.fd.get(), ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS) {
                c.state = Conn::State::connecting;
                watch(c, EPOLLOUT, EPOLL_CTL_ADD);
                ++in_flight;
            } else {
                failed(c, errno);
            }
        }
        int n = ::epoll_wait(ep_.get(), events.data(), static_cast<int>(events.size()), 100);
        for (int i = 0; i < n; ++i) {
            Conn& c = *static_cast<Conn*>(events[i].data.ptr);
            int err = 0;
            socklen_t len = sizeof err;
            ::getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
            --in_flight;
            ::epoll_ctl(ep_.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
            if (err == 0) {
                c.state = Conn::State::open;
                ++connections.established;
                if (c.kind == Kind::main || c.kind == Kind::hog) tl_.busy.fetch_add(1);  // before any thread can drop one
            } else {
                c.state = Conn::State::closed;
                failed(c, err);
            }
        }
    }
    for (auto& c : conns_) {
        if (c->state == Conn::State::connecting) {  // still connecting at the deadline
            ++connections.timed_out;
            c->state = Conn::State::closed;
            c->fd.reset();
        }
    }
    connections.timed_out += static_cast<int>(conns_.size() - next);  // never tried
}

void Worker::start_sending() {
    std::int64_t start = tl_.start.load();
    for (auto& c : conns_) {
        if (!c->open()) continue;
        watch(*c, c->kind == Kind::flood ? EPOLLOUT : EPOLLIN | EPOLLRDHUP, EPOLL_CTL_ADD);
        if (c->kind == Kind::main || c->kind == Kind::hog) ++stats_of(*c).clients;
        if (c->kind == Kind::hog) {
            send_requests(*c, 1, start);
        } else if (c->kind == Kind::main) {
            if (cfg_.rate > 0) {
                c->next_due += start;
            } else {
                send_requests(*c, cfg_.pipeline, start);
            }
        } else if (c->kind == Kind::flood) {
            flood(*c);
        }
    }
}

// Appends `count` requests and writes them in one send (the rest when the socket has room).
void Worker::send_requests(Conn& c, int count, std::int64_t intended) {
    std::int64_t now = now_ns();
    for (int i = 0; i < count; ++i) {
        int which = c.next_which();
        c.out.append(c.ask->request[which]);
        c.pending.push_back({intended == 0 ? now : intended, now, which});
    }
    flush(c);
}

void Worker::flush(Conn& c) {
    while (c.out_off < c.out.size()) {
        ssize_t n = ::send(c.fd.get(), c.out.data() + c.out_off, c.out.size() - c.out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c.out_off += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c.want_write && c.kind != Kind::flood) watch(c, EPOLLIN | EPOLLRDHUP | EPOLLOUT, EPOLL_CTL_MOD);
            c.want_write = true;
            return;
        }
        drop(c, &Errors::reset);
        return;
    }
    c.out.clear();
    c.out_off = 0;
    if (c.want_write && c.kind != Kind::flood) watch(c, EPOLLIN | EPOLLRDHUP, EPOLL_CTL_MOD);
    c.want_write = false;
}

// A flood connection writes requests for as long as the socket takes them, and never reads: the
// server must stop reading it (back-pressure) without starving everyone else.
void Worker::flood(Conn& c) {
    constexpr int kChunk = 1024;  // requests per append
    while (c.open() && !tl_.stop.load(std::memory_order_relaxed)) {
        if (c.out.empty()) {
            for (int i = 0; i < kChunk; ++i) c.out.append(c.ask->request[0]);
        }
        flush(c);
        if (c.want_write) return;  // full: EPOLLOUT brings us back
    }
}

void Worker::close(Conn& c) {
    if (!c.open()) return;
    if (draining_) errors.unanswered += c.pending.size();  // in the window, the drop was the error
    c.state = Conn::State::closed;
    c.fd.reset();
    c.pending.clear();
    // The last connection that sends requests is gone: nothing is left to measure, so the run
    // ends (without this a --requests run against a dead server would never end).
    if ((c.kind == Kind::main || c.kind == Kind::hog) && tl_.busy.fetch_sub(1) == 1 && !tl_.stop.load()) {
        tl_.window_end.store(std::min(tl_.window_end.load(), now_ns()));
        tl_.stop.store(true);
    }
}

void Worker::drop(Conn& c, std::uint64_t Errors::*counter) {
    if (!c.open()) return;
    if (!draining_ && !tl_.stop.load(std::memory_order_relaxed)) {  // once the run is over, a close is no error
        if (c.kind == Kind::idle || c.kind == Kind::flood) counter = &Errors::idle_closed;
        ++(errors.*counter);
        if (c.kind == Kind::main || c.kind == Kind::hog) progress_errors.fetch_add(1, std::memory_order_relaxed);
    }
    close(c);
}

// The server accepted the connection only to say it is full: that is a refusal, not an error.
void Worker::refused_by_server(Conn& c) {
    --connections.established;
    ++connections.refused_by_server;
    close(c);
}

void Worker::on_readable(Conn& c) {
    char buf[16384];
    int refill = 0;  // replies consumed on a closed-loop connection: as many requests go out, in one send
    // At most kReads reads, then back to the loop, which looks at the clock and the stop flag: a
    // server that sends without end (what nobody asked for) must not hold the run past its end.
    constexpr int kReads = 16;
    for (int reads = 0; reads < kReads; ++reads) {
        ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (n == 0) return drop(c, &Errors::closed);
        if (n < 0) return drop(c, &Errors::reset);
        std::string_view got(buf, static_cast<std::size_t>(n));
        if (!c.heard) {  // the first bytes from the server: is it a refusal?
            c.in.append(got);
            got = {};
            std::string_view head = std::string_view(c.in).substr(0, protocol::kServerFull.size());
            if (protocol::kServerFull.starts_with(head)) {
                if (c.in.size() < protocol::kServerFull.size()) continue;  // the rest is on its way
                return refused_by_server(c);
            }
            c.heard = true;
        }
        if (c.kind == Kind::idle) {  // whatever it is; a close that follows is counted
            c.in.clear();
            continue;
        }
        std::int64_t now = now_ns();
        c.in.append(got);
        std::size_t start = 0;
        for (std::size_t nl; (nl = c.in.find('\n', start)) != std::string::npos; start = nl + 1) {
            refill += on_line(c, std::string_view(c.in).substr(start, nl - start), now) ? 1 : 0;
            if (!c.open()) return;
        }
        c.in.erase(0, start);
        if (c.in.size() > 64) {  // no reply is that long
            return drop(c, &Errors::malformed);
        }
        if (static_cast<std::size_t>(n) < sizeof buf) break;
    }
    if (cfg_.batch && !c.pending.empty()) return;  // the rest of the batch is on its way
    if (cfg_.batch) refill = refill > 0 ? cfg_.pipeline : 0;    // the whole batch is in: the next one
    if (refill > 0 && !draining_ && !tl_.stop.load(std::memory_order_relaxed)) send_requests(c, refill, 0);
}

// One reply line, checked against the request it answers. Returns true when a closed-loop
// connection should send another request in its place.
bool Worker::on_line(Conn& c, std::string_view line, std::int64_t now) {
    if (c.pending.empty()) {
        ++errors.malformed;  // a reply nobody asked for
        progress_errors.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    Pending p = c.pending.front();
    c.pending.pop_front();
    if (line == c.ask->expected[p.which]) {
        std::int64_t ws = tl_.window_start.load(std::memory_order_relaxed);
        if (now >= ws && now < tl_.window_end.load(std::memory_order_relaxed)) {
            ClassStats& s = stats_of(c);
            ++s.replies;
            if (cfg_.trace > 0 && tl_.traced.fetch_add(1, std::memory_order_relaxed) < cfg_.trace) {
                trace.push_back({c.id, p.sent - ws, now - ws});
            }
            auto latency = static_cast<std::uint64_t>(now - p.intended);
            s.latency.record(latency);
            if (!s.windows.empty()) {  // which part of the planned window this reply fell in
                auto part = static_cast<std::size_t>(static_cast<double>(now - ws) / (cfg_.duration_s * 1e9) * cfg_.windows);
                s.windows[std::min(part, s.windows.size() - 1)].record(latency);
            }
            s.latency_uncorrected.record(static_cast<std::uint64_t>(now - p.sent));
            if (!c.served) {
                c.served = true;
                ++s.served;
                s.first_reply.record(static_cast<std::uint64_t>(now - ws));
            }
            std::uint64_t total = c.kind == Kind::main ? tl_.measured.fetch_add(1, std::memory_order_relaxed) + 1 : 0;
            if (tl_.limit > 0 && total == tl_.limit) {
                tl_.window_end.store(now);
                tl_.stop.store(true);
            }
        }
    } else {
        bool digits = !line.empty() && line.find_first_not_of("0123456789") == std::string_view::npos;
        if (line.rfind("error: ", 0) == 0) {
            if (errors.error_reply++ == 0) errors.first_error = line;
        } else if (digits) {  // wrong, or a reply lost, extra or swapped: then later ones are out of step too
            ++errors.wrong;
        } else {
            ++errors.malformed;
        }
        progress_errors.fetch_add(1, std::memory_order_relaxed);
    }
    return closed_loop(c);
}

void Worker::check_timeouts(std::int64_t now) {
    auto limit = static_cast<std::int64_t>(cfg_.timeout_s * 1e9);
    for (auto& c : conns_) {
        if (c->open() && !c->pending.empty() && now - c->pending.front().sent > limit) drop(*c, &Errors::timeout);
    }
}

void Worker::publish() {
    std::lock_guard lock(published_mu);
    published = main.latency;
}

// The window is over: no more requests. What is still in flight gets --timeout to come back;
// whatever has not by then is counted as unanswered. A connection with nothing in flight closes now
// (so a server that serves one client at a time moves on to the next, whose replies are pending).
void Worker::start_draining(std::int64_t now) {
    draining_ = true;
    drain_end_ = now + static_cast<std::int64_t>(cfg_.timeout_s * 1e9);
    for (auto& c : conns_) {
        if (drained(*c)) close(*c);
    }
}

// Open loop: sends every request due by `until`, each stamped with the time it was due (late
// ones count as late), and counts those due in the window: the rate the run offered.
void Worker::send_due(std::int64_t until, std::int64_t interval) {
    std::int64_t ws = tl_.window_start.load(std::memory_order_relaxed);
    std::int64_t we = tl_.window_end.load(std::memory_order_relaxed);
    std::int64_t now = now_ns();
    for (auto& c : conns_) {
        if (c->kind != Kind::main) continue;
        while (c->open() && c->next_due <= until) {
            if (c->next_due >= ws && c->next_due < we) {
                ++sent;
                if (now - c->next_due > 1'000'000) ++late;  // more than 1 ms behind schedule
            }
            send_requests(*c, 1, c->next_due);
            c->next_due += interval;
        }
    }
}

bool Worker::drained(const Conn& c) const {
    return c.open() && (c.pending.empty() || c.kind == Kind::idle || c.kind == Kind::flood);
}

void Worker::loop() {
    std::vector<epoll_event> events(512);
    std::int64_t interval = cfg_.rate > 0 ? static_cast<std::int64_t>(1e9 * cfg_.clients / cfg_.rate) : 0;
    std::int64_t next_check = now_ns() + 100'000'000;
    for (;;) {
        std::int64_t now = now_ns();
        std::int64_t end = tl_.window_end.load(std::memory_order_relaxed);
        // The run is over once the main thread has read the server's CPU (it sets `stop` then):
        // closing connections before that would bill their closing to the window.
        if (!draining_ && tl_.stop.load(std::memory_order_relaxed)) {
            // Open loop: what was due in the window goes out, however late this thread runs.
            if (interval > 0) send_due(std::min(now, tl_.window_end.load(std::memory_order_relaxed) - 1), interval);
            start_draining(now);
        }
        if (draining_) {
            bool waiting = std::any_of(conns_.begin(), conns_.end(), [](auto& c) { return c->open(); });
            if (!waiting || now >= drain_end_) break;
            end = drain_end_;
        } else if (now >= end) {
            end = now + 1'000'000;  // the window is over: look again in 1 ms
        }
        std::int64_t wake = std::min(end, next_check);
        if (interval > 0 && !draining_) {
            for (auto& c : conns_) {
                if (c->open() && c->kind == Kind::main) wake = std::min(wake, c->next_due);
            }
        }
        std::int64_t wait = std::max<std::int64_t>(0, wake - now);
        timespec ts{wait / 1'000'000'000, wait % 1'000'000'000};
        int n = ::epoll_pwait2(ep_.get(), events.data(), static_cast<int>(events.size()), &ts, nullptr);
        for (int i = 0; i < n; ++i) {
            Conn& c = *static_cast<Conn*>(events[i].data.ptr);
            if (!c.open()) continue;
            if (c.kind == Kind::flood) {
                c.want_write = false;
                flood(c);
                continue;
            }
            if (events[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) on_readable(c);
            if (c.open() && (events[i].events & EPOLLOUT)) flush(c);
            if (draining_ && drained(c)) close(c);
        }
        now = now_ns();
        if (interval > 0 && !draining_) send_due(now, interval);
        if (now >= next_check) {
            check_timeouts(now);
            next_check = now + 100'000'000;
            if (cfg_.progress != LoadConfig::Progress::none && now - last_publish_ > 900'000'000) {
                publish();
                last_publish_ = now;
            }
        }
    }
    for (auto& c : conns_) close(*c);  // what is still in flight is unanswered
}

}  // namespace fibs::bench
