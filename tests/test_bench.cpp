// fib-bench: the histogram, and the load engine against small servers whose behaviour we know.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <cstdio>
#include <cctype>
#include <iterator>
#include <regex>
#include <thread>
#include <tuple>

#include "histogram.hpp"
#include "load.hpp"
#include "proc_stats.hpp"
#include "report.hpp"
#include "compare.hpp"
#include "servers.hpp"

namespace fibs::test {
namespace {

using bench::Histogram;
using bench::Spread;
using bench::spread_of;

TEST(Histogram, PercentilesWithinOnePercentOfExact) {
    std::mt19937_64 rng(42);
    std::lognormal_distribution<double> dist(11.0, 1.5);  // ~60 µs median, long tail, in ns
    std::vector<std::uint64_t> values;
    Histogram h;
    for (int i = 0; i < 200000; ++i) {
        auto v = static_cast<std::uint64_t>(dist(rng));
        values.push_back(v);
        h.record(v);
    }
    std::sort(values.begin(), values.end());
    for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99}) {
        auto rank = static_cast<std::size_t>(std::ceil(p / 100 * static_cast<double>(values.size())));
        double exact = static_cast<double>(values[rank - 1]);
        EXPECT_NEAR(static_cast<double>(h.percentile(p)), exact, exact * 0.01) << "p" << p;
    }
    EXPECT_EQ(h.max(), values.back());
    EXPECT_EQ(h.min(), values.front());
    EXPECT_EQ(h.count(), values.size());
}

TEST(Histogram, SmallValuesAreExactAndBucketsAreContiguous) {
    for (std::uint64_t v : {0ull, 1ull, 255ull}) EXPECT_EQ(Histogram::lowest_of(Histogram::index_of(v)), v);
    for (std::size_t i = 0; i + 1 < 7424; ++i) {
        ASSERT_EQ(Histogram::lowest_of(i) + Histogram::width_of(i), Histogram::lowest_of(i + 1)) << i;
        ASSERT_EQ(Histogram::index_of(Histogram::lowest_of(i)), i);
    }
    EXPECT_EQ(Histogram::index_of(UINT64_MAX), 7423u);
}

// The latency curve's point: the median of its windows' p99, and their spread.
TEST(Histogram, SpreadIsTheMedianOfTheWindowsAndTheirRange) {
    auto window = [](std::uint64_t p99_ns) {  // 99 replies at 100 ns, one at p99_ns: its p99 is p99_ns
        Histogram h;
        for (int i = 0; i < 98; ++i) h.record(100);
        h.record(p99_ns);
        h.record(p99_ns);
        return h;
    };
    std::vector<Histogram> three{window(200), window(9'000'000), window(2'000)};
    Spread s = spread_of(three, 99);
    EXPECT_NEAR(s.median, 2'000, 2'000 * 0.004) << "one stalled window does not move the median";
    EXPECT_NEAR(s.min, 200, 1);
    EXPECT_NEAR(s.max, 9'000'000, 9'000'000 * 0.004);
    three.push_back(Histogram());  // a window without a reply says nothing
    EXPECT_NEAR(spread_of(three, 99).median, s.median, 1);
    std::vector<Histogram> two{window(200), window(2'000)};
    EXPECT_NEAR(spread_of(two, 99).median, 1'100, 1'100 * 0.004) << "two windows: the mean of both";
    EXPECT_EQ(spread_of({}, 99).max, 0);
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
    Histogram a, b, all;
    for (std::uint64_t v = 1; v < 100000; v += 7) {
        (v % 3 ? a : b).record(v);
        all.record(v);
    }
    a.merge(b);
    EXPECT_EQ(a.count(), all.count());
    for (double p : {50.0, 99.0, 100.0}) EXPECT_EQ(a.percentile(p), all.percentile(p));
    EXPECT_EQ(a.max(), all.max());
}

// A tiny line server run in the test, one thread per connection, with a chosen misbehaviour.
class FakeServer {
public:
    // Called for each request line (without "\n"): `count` over all connections, `conn` numbers the
    // connections in accept order. Returns false to close the connection.
    using Answer = std::function<bool(int fd, std::string_view line, std::uint64_t count, int conn)>;
    explicit FakeServer(Answer answer) : sock_(listen_on("127.0.0.1", 0)), answer_(std::move(answer)) {
        accepter_ = std::thread([this] {
            while (wait_readable_or(stop_)) {
                Fd c = accept_client(sock_.get(), nullptr);
                if (!c) continue;
                int conn = static_cast<int>(clients_.size());
                clients_.emplace_back([this, conn, c = std::move(c)]() mutable { serve(std::move(c), conn); });
            }
        });
    }
    ~FakeServer() {
        stop_ = true;
        ::shutdown(sock_.get(), SHUT_RDWR);
        accepter_.join();
        for (auto& t : clients_) t.join();
    }
    std::uint16_t port() const { return local_port(sock_.get()); }

private:
    bool wait_readable_or(const std::atomic<bool>& stop) {
        pollfd p{sock_.get(), POLLIN, 0};
        while (!stop) {
            if (::poll(&p, 1, 50) > 0) return !stop;
        }
        return false;
    }
    void serve(Fd c, int conn) {
        char buf[4096];
        std::string line;
        while (!stop_) {
            pollfd p{c.get(), POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            ssize_t n = ::recv(c.get(), buf, sizeof buf, 0);
            if (n <= 0) return;
            for (ssize_t i = 0; i < n; ++i) {
                if (buf[i] != '\n') {
                    line += buf[i];
                } else if (!answer_(c.get(), std::exchange(line, {}), ++count_, conn)) {
                    return;
                }
            }
        }
    }
    Fd sock_;
    Answer answer_;
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> count_{0};
    std::thread accepter_;
    std::vector<std::thread> clients_;
};

bench::LoadConfig quick_load(std::uint16_t port, int clients, double seconds) {
    bench::LoadConfig cfg;
    cfg.port = port;
    cfg.clients = clients;
    cfg.warmup_s = 0.1;
    cfg.duration_s = seconds;
    cfg.fib_n = 10;  // "55"
    cfg.timeout_s = 5;
    return cfg;
}

TEST(BenchLoad, MeasuresA20msDelay) {
    FakeServer server([](int fd, std::string_view, std::uint64_t, int) {
        std::this_thread::sleep_for(20ms);
        return blocking_send_all(fd, "55\n");
    });
    auto r = bench::run_load(quick_load(server.port(), 2, 1.0));
    ASSERT_GT(r.main.replies, 20u);
    // Never less than the delay (the histogram keeps 1%); a busy machine may add to a reply, but
    // not 10 ms to half of them: under 30 ms tells a 20 ms delay from units off by 1,000, from a
    // latency taken from the wrong moment, and from a wait counted twice (40 ms).
    double p50_ms = static_cast<double>(r.main.latency.percentile(50)) / 1e6;
    EXPECT_GE(p50_ms, 20.0 * 0.99);
    EXPECT_LT(p50_ms, 30.0);
    EXPECT_EQ(r.errors.total(), 0u);
    EXPECT_EQ(r.main.served, 2);
}

TEST(BenchLoad, CountsExactlyEveryWrongReply) {
    FakeServer server([](int fd, std::string_view, std::uint64_t n, int) { return blocking_send_all(fd, n % 10 == 0 ? "56\n" : "55\n"); });
    bench::LoadConfig cfg = quick_load(server.port(), 1, 0);
    cfg.warmup_s = 0;
    cfg.requests = 1000;  // correct replies to wait for: exactly 1000/9 wrong ones come with them
    auto r = bench::run_load(cfg);
    EXPECT_EQ(r.main.replies, 1000u);
    std::uint64_t all = r.main.replies + r.errors.wrong;
    EXPECT_EQ(r.errors.wrong, all / 10);
    EXPECT_EQ(r.errors.total(), r.errors.wrong);
}

TEST(BenchLoad, CountsResetsAndCompletes) {
    std::atomic<int> resets{0};
    FakeServer server([&resets](int fd, std::string_view, std::uint64_t, int conn) {
        if (conn < 2 && resets.fetch_add(1) < 2) {  // the first two connections are reset at once
            linger lg{1, 0};
            ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            return false;  // closing now sends a reset
        }
        return blocking_send_all(fd, "55\n");
    });
    auto r = bench::run_load(quick_load(server.port(), 4, 0.3));
    EXPECT_EQ(r.errors.reset, 2u);
    EXPECT_GT(r.window_s, 0.25);  // the run went on to its end with the two others
    EXPECT_GT(r.main.replies, 0u);
    EXPECT_EQ(r.main.served, 2);
}

TEST(BenchLoad, ARequestsRunEndsWhenEveryConnectionIsGone) {
    FakeServer server([](int fd, std::string_view, std::uint64_t, int) {
        blocking_send_all(fd, "55\n");
        return false;  // one reply, then the server closes the connection
    });
    bench::LoadConfig cfg = quick_load(server.port(), 3, 0);
    cfg.warmup_s = 0;
    cfg.requests = 1000;  // can never be reached
    cfg.timeout_s = 60;   // a run that waited for it would take a minute; this one takes milliseconds
    auto started = std::chrono::steady_clock::now();
    auto r = bench::run_load(cfg);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 20s);
    EXPECT_EQ(r.errors.closed + r.errors.reset, 3u);  // a close, or a reset if our next request crossed it
    EXPECT_LE(r.main.replies, 3u);
}

// A server that sends what nobody asked, without end (as `yes 1` behind socat): a run still ends
// by its window and its timeout, and stops reading. 261367e read while recv filled its buffer,
// never looking at the clock, until the server had sent all it would (4 to 15 s and more for a
// 1 s window): the test counts what the server could send before the bench closed.
TEST(BenchLoad, ARunEndsBesideAServerThatNeverStopsSending) {
    constexpr int kChunks = 2000;  // 1 GB at most
    std::atomic<int> sent_whole{0};
    FakeServer server([&sent_whole](int fd, std::string_view, std::uint64_t, int) {
        std::string chunk;
        for (int i = 0; i < 262144; ++i) chunk += "1\n";
        for (int i = 0; i < kChunks; ++i) {
            if (!blocking_send_all(fd, chunk)) return false;  // the bench has closed the connection
        }
        ++sent_whole;
        return false;
    });
    bench::LoadConfig cfg = quick_load(server.port(), 2, 0.3);
    cfg.timeout_s = 1;
    auto r = bench::run_load(cfg);
    EXPECT_EQ(sent_whole, 0) << "the bench read all the server sent: it never looked at its clock";
    EXPECT_GT(r.errors.total(), 0u) << "replies nobody asked for went unseen";
}

// A fake server that answers each request line correctly, except the one whose overall number is
// `skip` (0: none), which it leaves unanswered.
FakeServer::Answer answers_correctly_but(std::uint64_t skip) {
    return [skip](int fd, std::string_view line, std::uint64_t count, int) {
        if (count == skip) return true;
        return blocking_send_all(fd, expected_reply(static_cast<unsigned>(std::stoul(std::string(line)))) + "\n");
    };
}

TEST(BenchLoad, OpenLoopKeepsItsSchedule) {
    FakeServer server(answers_correctly_but(0));  // requests mix n and n - 1 (several in flight)
    bench::LoadConfig cfg = quick_load(server.port(), 4, 1.0);
    cfg.rate = 2000;
    auto r = bench::run_load(cfg);
    // A request due in the window is sent, late if the bench was held up, never dropped: one per
    // client per 2 ms of window (the first of each client may fall either side of its start).
    // Each is answered (no error, none unanswered); how many answers land inside the window is
    // the machine's to say, so only the bound is checked.
    EXPECT_NEAR(static_cast<double>(r.sent), cfg.rate * r.window_s, cfg.clients);
    EXPECT_GT(r.main.replies, 0u);
    EXPECT_LE(r.main.replies, r.sent + static_cast<std::uint64_t>(cfg.clients));
    EXPECT_EQ(r.errors.total(), 0u);
    // Corrected latency (from the intended send time) is never below the uncorrected one.
    for (double p : {50.0, 99.0}) EXPECT_GE(r.main.latency.percentile(p), r.main.latency_uncorrected.percentile(p)) << p;
}

TEST(BenchLoad, PipelinedRepliesAreCheckedInOrder) {
    FakeServer server(answers_correctly_but(0));
    bench::LoadConfig cfg = quick_load(server.port(), 2, 0.3);
    cfg.pipeline = 16;
    auto r = bench::run_load(cfg);
    EXPECT_GT(r.main.replies, 100u);
    EXPECT_EQ(r.errors.total(), 0u);
    EXPECT_EQ(r.main.served, 2);
}

// Fake servers that misbehave on the 5th and 6th request of every connection, at --pipeline 1 and
// 16: each misbehaviour must show in the errors, and a correct server must get none.
enum class Misbehaviour { none, drop_5_and_6, duplicate_5, swap_5_and_6 };

FakeServer::Answer misbehaving(Misbehaviour m) {
    struct Seen {
        std::mutex mu;
        std::map<int, std::uint64_t> requests;  // by connection
        std::map<int, std::string> held;        // a reply kept back, by connection
    };
    auto seen = std::make_shared<Seen>();
    return [m, seen](int fd, std::string_view line, std::uint64_t, int conn) {
        std::string reply = expected_reply(static_cast<unsigned>(std::stoul(std::string(line)))) + "\n";
        std::lock_guard lock(seen->mu);
        std::uint64_t i = ++seen->requests[conn];  // this connection's i-th request
        switch (m) {
            case Misbehaviour::none: break;
            case Misbehaviour::drop_5_and_6: if (i == 5 || i == 6) return true; break;
            case Misbehaviour::duplicate_5: if (i == 5) reply += reply; break;
            case Misbehaviour::swap_5_and_6:
                if (i == 5) {
                    seen->held[conn] = reply;
                    return true;
                }
                if (i == 6) reply += seen->held[conn];
                break;
        }
        return blocking_send_all(fd, reply);
    };
}

std::string misbehaviour_name(const testing::TestParamInfo<std::tuple<Misbehaviour, int>>& info) {
    static const char* const names[] = {"correct", "drops_5_and_6", "duplicates_5", "swaps_5_and_6"};
    return names[static_cast<int>(std::get<0>(info.param))] + std::string("_pipeline_") +
           std::to_string(std::get<1>(info.param));
}

class BenchSeesEveryLostReply : public testing::TestWithParam<std::tuple<Misbehaviour, int>> {};

TEST_P(BenchSeesEveryLostReply, AtAnyPipelineDepth) {
    auto [m, pipeline] = GetParam();
    FakeServer server(misbehaving(m));
    bench::LoadConfig cfg = quick_load(server.port(), 2, 0.3);
    cfg.warmup_s = 0;
    cfg.pipeline = pipeline;
    cfg.timeout_s = 0.5;  // the grace for the last replies after the window
    auto r = bench::run_load(cfg);
    const bench::Errors& e = r.errors;
    std::string seen = "wrong " + std::to_string(e.wrong) + ", malformed " + std::to_string(e.malformed) +
                       ", timeouts " + std::to_string(e.timeout) + ", unanswered " + std::to_string(e.unanswered);
    if (m == Misbehaviour::none) {
        EXPECT_EQ(e.total(), 0u) << seen;
        EXPECT_GT(r.main.replies, 100u);
        return;
    }
    EXPECT_GT(e.total(), 0u) << "the server's misbehaviour went unseen";
    // Where each one shows. At --pipeline 1 a connection waits for the one reply it is owed:
    // a missing or held-back reply leaves it stalled, and unanswered when the grace is over.
    if (m == Misbehaviour::drop_5_and_6 || (m == Misbehaviour::swap_5_and_6 && pipeline == 1)) {
        EXPECT_EQ(e.unanswered, pipeline == 1 ? 2u : 4u) << seen;  // per connection: 1 stalled, or 2 lost
    }
    if (pipeline > 1) {
        EXPECT_GT(e.wrong, 0u) << "replies out of step with their requests: " << seen;
    }
    if (m == Misbehaviour::duplicate_5) {
        EXPECT_GT(e.malformed + e.wrong, 0u) << seen;
    }
}

INSTANTIATE_TEST_SUITE_P(Fakes, BenchSeesEveryLostReply,
                         testing::Combine(testing::Values(Misbehaviour::none, Misbehaviour::drop_5_and_6,
                                                          Misbehaviour::duplicate_5, Misbehaviour::swap_5_and_6),
                                          testing::Values(1, 16)),
                         misbehaviour_name);

// The connect phase against a real server that refuses past --max-clients: every connection is
// counted once, the kinds add up, and the run ends on schedule.
class BenchRefused : public testing::TestWithParam<ServerKind> {};

TEST_P(BenchRefused, ServerFullIsCountedOnceAsRefusedByTheServer) {
    ServerProcess server(bin(GetParam().exe), {"--quiet", "--max-clients", "10"});
    bench::LoadConfig cfg = quick_load(server.port(), 4, 0.5);
    cfg.idle = 40;
    cfg.warmup_s = 0;
    auto started = std::chrono::steady_clock::now();
    auto r = bench::run_load(cfg);
    auto took = std::chrono::steady_clock::now() - started;
    const bench::Connections& k = r.connections;
    EXPECT_EQ(k.requested, 44);
    EXPECT_EQ(k.total(), k.requested);
    EXPECT_EQ(k.established, 10);
    EXPECT_EQ(k.refused_by_server, 34);
    EXPECT_EQ(r.main.served, 4);
    EXPECT_EQ(r.errors.total(), 0u);
    // Well under the 5 s that a connection left waiting for its timeout would add.
    EXPECT_LT(took, 3500ms) << "the run went past its duration plus 3 s";
    EXPECT_EQ(server.stop(), 0) << dump(server);
}

INSTANTIATE_TEST_SUITE_P(All, BenchRefused,
                         testing::Values(ServerKind{"loop", "fib-loop", {}}, ServerKind{"threads", "fib-threads", {}}),
                         label_of);

// Without --server-pid, fib-bench measures the process that listens on --host:--port.
TEST(BenchFindsTheServer, TheListenerIsTheProcessHoldingTheListeningSocket) {
    Fd mine = listen_on("127.0.0.1", 0);
    EXPECT_EQ(bench::find_listener("127.0.0.1", local_port(mine.get())), ::getpid());
    EXPECT_EQ(bench::find_listener("localhost", local_port(mine.get())), ::getpid());
    std::uint16_t port = local_port(mine.get());
    mine.reset();  // nobody listens there now
    EXPECT_EQ(bench::find_listener("127.0.0.1", port), std::nullopt);
}

TEST(BenchFindsTheServer, RunSaysWhichPidItMeasured) {
    ServerProcess server(bin("fib-loop"), {"--quiet"});
    Finished run = run_to_end(bin("fib-bench"), {"run", "--port", std::to_string(server.port()), "--clients", "2",
                                                 "--duration", "0.2s", "--warmup", "0s"});
    EXPECT_EQ(run.code, 0) << run.output;
    std::string expected = "server       pid " + std::to_string(server.pid()) + " (listening on 127.0.0.1:" +
                           std::to_string(server.port()) + "): ";
    EXPECT_NE(run.output.find(expected), std::string::npos) << run.output;
    EXPECT_EQ(server.stop(), 0);
}

// A strict little JSON reader: true if `text` is one JSON value and nothing else.
class JsonCheck {
public:
    static bool parses(std::string_view text) {
        JsonCheck j{text};
        return j.value() && (j.space(), j.at == text.size());
    }

private:
    std::string_view t;
    std::size_t at = 0;
    explicit JsonCheck(std::string_view text) : t(text) {}
    void space() {
        while (at < t.size() && std::isspace(static_cast<unsigned char>(t[at]))) ++at;
    }
    bool eat(char c) {
        space();
        if (at < t.size() && t[at] == c) return ++at, true;
        return false;
    }
    bool value() {
        space();
        if (eat('{')) return list('}', true);
        if (eat('[')) return list(']', false);
        if (at < t.size() && t[at] == '"') return string();
        for (std::string_view word : {"true", "false", "null"}) {
            if (t.substr(at, word.size()) == word) return at += word.size(), true;
        }
        std::size_t start = at;
        if (at < t.size() && t[at] == '-') ++at;
        while (at < t.size() && (std::isdigit(static_cast<unsigned char>(t[at])) || t[at] == '.' || t[at] == 'e' || t[at] == '-' || t[at] == '+')) ++at;
        return at > start && std::isdigit(static_cast<unsigned char>(t[at - 1]));
    }
    bool string() {
        for (++at; at < t.size() && t[at] != '"'; ++at) {
            if (t[at] == '\\') ++at;
        }
        return at++ < t.size();
    }
    bool list(char close, bool object) {
        if (eat(close)) return true;
        do {
            space();
            if (object && !(at < t.size() && t[at] == '"' && string() && eat(':'))) return false;
            if (!value()) return false;
        } while (eat(','));
        return eat(close);
    }
};

TEST(JsonCheck, TellsJsonFromNot) {
    EXPECT_TRUE(JsonCheck::parses(R"({"a": [1, -2.5e3, "x\"y", true, null], "b": {}})"));
    EXPECT_FALSE(JsonCheck::parses(R"({"a": [1, 2,]})"));
    EXPECT_FALSE(JsonCheck::parses(R"({"a": 1} x)"));
    EXPECT_FALSE(JsonCheck::parses(R"({"a" 1})"));
}

// --trace: one track per client, one slice per request. Step 2 as a picture: against the blocking
// server only one of 4 tracks has slices; against the loop, all 4 do.
class BenchTrace : public testing::TestWithParam<std::pair<std::string, int>> {};

TEST_P(BenchTrace, OnlyTheClientsServedHaveSlices) {
    auto [exe, tracks_with_slices] = GetParam();
    ServerProcess server(bin(exe), {"--quiet"});
    bench::LoadConfig cfg = quick_load(server.port(), 4, 0.2);
    cfg.trace = 100'000;
    auto r = bench::run_load(cfg);
    EXPECT_EQ(r.errors.total(), 0u);
    std::string path = testing::TempDir() + "trace-" + std::to_string(::getpid()) + ".json";
    bench::write_trace(path, r);
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::remove(path.c_str());
    EXPECT_TRUE(JsonCheck::parses(text)) << text.substr(0, 500);
    std::set<int> tracks;
    static const std::regex slice(R"re("ph": "X", "pid": 1, "tid": (\d+))re");
    for (std::sregex_iterator m(text.begin(), text.end(), slice), end; m != end; ++m) tracks.insert(std::stoi((*m)[1]));
    EXPECT_EQ(static_cast<int>(tracks.size()), tracks_with_slices) << "tracks with slices";
    EXPECT_EQ(std::count(text.begin(), text.end(), 'M'), 4) << "a named track per client";
    EXPECT_EQ(r.trace.size(), r.main.replies) << "every request of the window, under the bound";
    EXPECT_EQ(server.stop(), 0);
}

INSTANTIATE_TEST_SUITE_P(Servers, BenchTrace,
                         testing::Values(std::pair<std::string, int>{"fib-blocking", 1},
                                         std::pair<std::string, int>{"fib-loop", 4}, std::pair<std::string, int>{"fib-floor", 4}),
                         [](const auto& info) { return info.param.first.substr(4); });

// A window cut in three: every reply counted in exactly one third, the point's p99 between them.
TEST(BenchLoad, WindowsSplitTheLatencyAndTheirMedianLiesWithinTheirSpread) {
    ServerProcess server(bin("fib-floor"), {"--quiet"});
    bench::LoadConfig cfg = quick_load(server.port(), 2, 0.6);
    cfg.windows = 3;
    cfg.rate = 3000;
    auto r = bench::run_load(cfg);
    ASSERT_EQ(r.main.windows.size(), 3u);
    std::uint64_t counted = 0;
    for (const auto& w : r.main.windows) {
        EXPECT_GT(w.count(), 300u) << "each third holds about a third of 1,800 replies";
        counted += w.count();
    }
    EXPECT_EQ(counted, r.main.latency.count());
    Spread p99 = r.p99_by_window();
    EXPECT_LE(p99.min, p99.median);
    EXPECT_LE(p99.median, p99.max);
    EXPECT_GT(p99.min, 0);
    EXPECT_EQ(server.stop(), 0) << dump(server);
}

// Every run says how late a sleeping thread woke during its window: one `machine` line, and the
// figures in the JSON. The probe keeps its schedule (no more wake-ups than ticks): what it costs.
TEST(BenchMachine, EveryRunPrintsTheMachineLineAndItsFigures) {
    ServerProcess server(bin("fib-floor"), {"--quiet"});
    std::string json = testing::TempDir() + "machine-" + std::to_string(::getpid()) + ".json";
    Finished run = run_to_end(bin("fib-bench"), {"run", "--port", std::to_string(server.port()), "--clients", "2",
                                                 "--duration", "0.5s", "--warmup", "0s", "--json", json});
    EXPECT_EQ(run.code, 0) << run.output;
    static const std::regex line(R"(machine {6}a sleeping thread woke late by p50 ([0-9.]+) (ns|µs|ms|s), p99 ([0-9.]+) (ns|µs|ms|s), )"
                                 R"(max ([0-9.]+) (ns|µs|ms|s) \(([0-9,]+) wake-ups, the probe used ([0-9.]+)% of a core\))");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(run.output, m, line)) << run.output;
    auto ns = [&m](int at) {
        std::map<std::string, double> unit{{"ns", 1}, {"µs", 1e3}, {"ms", 1e6}, {"s", 1e9}};
        return std::stod(m[at]) * unit.at(m[at + 1]);
    };
    EXPECT_LE(ns(1), ns(3));
    EXPECT_LE(ns(3), ns(5));
    std::string wakeups = m[7];
    wakeups.erase(std::remove(wakeups.begin(), wakeups.end(), ','), wakeups.end());
    EXPECT_GT(std::stoi(wakeups), 0);
    EXPECT_LE(std::stoi(wakeups), 0.5 / 0.0025 + 2) << "one wake-up per 2.5 ms tick at most";
    std::ifstream in(json);
    std::string text((std::istreambuf_iterator<char>(in)), {});
    std::remove(json.c_str());
    EXPECT_TRUE(JsonCheck::parses(text)) << text;
    for (const char* key : {"\"machine_late_p50_us\"", "\"machine_late_p99_us\"", "\"machine_late_max_us\"", "\"machine_probe_cpu_s\""}) {
        EXPECT_NE(text.find(key), std::string::npos) << key;
    }
    EXPECT_EQ(server.stop(), 0) << dump(server);
}

TEST(BenchLoad, BlockingServerServesOneOfFour) {
    ServerProcess server(bin("fib-blocking"), {"--quiet"});
    bench::LoadConfig cfg = quick_load(server.port(), 4, 0.5);
    cfg.fib_n = 1;
    cfg.server_pid = server.pid();
    auto r = bench::run_load(cfg);
    EXPECT_EQ(r.main.served, 1);
    EXPECT_EQ(r.main.clients, 4);
    EXPECT_EQ(r.connections.established, 4);
    EXPECT_EQ(r.errors.total(), 0u);
    EXPECT_TRUE(r.server_measured);
    EXPECT_EQ(server.stop(), 0) << dump(server);
}

// When the floor's own sweep fails, the run measured the machine or the bench, not the servers:
// one line says so, with the figure that shows it. Made-up sweeps (offered, answered, p99 in ns).
TEST(BenchCompare, AFloorThatFailsItsOwnSweepSaysTheMachineWasTheLimit) {
    using bench::SweepPoint;
    EXPECT_EQ(bench::machine_limit({}, 12000), "");
    EXPECT_EQ(bench::machine_limit({{6000, 6000, 300e3}, {10000, 10010, 2e6}, {13000, 11000, 80e6}}, 12000), "")
        << "a sound sweep: under the knee at first, falling behind past capacity";
    std::string late = bench::machine_limit({{6000, 6000, 120e6}, {10000, 9000, 300e6}}, 12000);
    EXPECT_NE(late.find("the machine or the bench was the limit in this run"), std::string::npos) << late;
    EXPECT_NE(late.find("the floor's p99 was 120.0 ms at its first point (6,000/s offered)"), std::string::npos) << late;
    std::string behind = bench::machine_limit({{6000, 6000, 300e3}, {8400, 7000, 90e6}}, 12000);
    EXPECT_NE(behind.find("the floor answered 7,000/s where 8,400/s were offered, below its own capacity (12,000/s)"),
              std::string::npos) << behind;
    std::string over = bench::machine_limit({{6000, 6000, 300e3}, {10000, 12000, 2e6}}, 12000);
    EXPECT_NE(over.find("the floor answered 12,000/s where 10,000/s were offered"), std::string::npos) << over;
}

long lines_starting(const std::string& output, const std::string& start) {
    std::istringstream in(output);
    long n = 0;
    for (std::string l; std::getline(in, l);) n += l.rfind(start, 0) == 0;
    return n;
}

// (Not under a sanitizer: compare's own code is one thread that starts servers, runs run_load and
// prints tables. run_load's threads are BenchLoad's, and the tables' formatting is every
// `fib-bench run`'s (BenchExit), both under each sanitizer; the release preset runs this whole.)
TEST(BenchCompare, QuickRunWritesJsonAndCsv) {
    if (kSanitized) GTEST_SKIP() << "compare's parts run under the sanitizers in BenchLoad and BenchExit";
    auto out = std::filesystem::temp_directory_path() / ("fib-bench-compare-" + std::to_string(::getpid()));
    Finished run = run_to_end(bin("fib-bench"), {"compare", "--quick", "--out", out.string()}, 100s);  // ThreadSanitizer: 60 s
    EXPECT_EQ(run.code, 0) << run.output;
    EXPECT_NE(run.output.find("1. Clients on fib(1)"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("2. Pipelined"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("4. Fairness"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("blocking"), std::string::npos);
    std::ifstream csv(out / "compare.csv");
    std::string header, line;
    ASSERT_TRUE(std::getline(csv, header));
    EXPECT_EQ(header.rfind("server,scenario,setting,round,spoiled,flags,clients", 0), 0u) << header;
    int rows = 0;
    std::set<std::string> scenarios;
    std::vector<std::string> lines;
    while (std::getline(csv, line)) {
        lines.push_back(line);
        ++rows;
        scenarios.insert(line.substr(line.find(',') + 1, line.find(',', line.find(',') + 1) - line.find(',') - 1));
    }
    EXPECT_GE(rows, 4);  // blocking: 3 client counts and the head-of-line run, at least
    for (const char* s : {"clients", "pipelined", "hol", "fairness", "idle"}) EXPECT_TRUE(scenarios.count(s)) << s;
    for (const char* step5 : {"2 loops handoff,clients,8,", "2 loops handoff,pipelined,", "2 loops handoff,hol,",
                              "2 loops handoff,latency,", "2 loops handoff,timeline,8 + hog,"}) {
        EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [&](auto& l) { return l.rfind(step5, 0) == 0; })) << step5;
    }
    // The ruler beside every step, and each CPU figure over its own.
    for (const char* ruler : {"floor,clients,8,", "floor,pipelined,", "floor,idle,500 idle,", "floor,latency,"}) {
        EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [&](auto& l) { return l.rfind(ruler, 0) == 0; })) << ruler;
    }
    EXPECT_NE(run.output.find("× floor"), std::string::npos) << run.output;
    EXPECT_NE(run.output.find("knee, the last offered load before the first p99 over 10 ms:"), std::string::npos);
    // The run's judgement of itself: what it shows, claim by claim, with the rounds that say so.
    EXPECT_NE(run.output.find("== What this run shows"), std::string::npos) << run.output;
    EXPECT_GE(lines_starting(run.output, "  stands ") + lines_starting(run.output, "  undecided "), 5) << run.output;
    EXPECT_NE(run.output.find("machine: over all the runs a sleeping thread woke late by p50 "), std::string::npos);
    // Each latency point: a median p99 between the lowest and highest of its rounds (--quick: thirds).
    std::vector<std::string> columns;
    for (std::size_t at = 0, next; at != std::string::npos; at = next == std::string::npos ? next : next + 1) {
        next = header.find(',', at);
        columns.push_back(header.substr(at, next == std::string::npos ? next : next - at));
    }
    auto column = [&](const std::string& name) { return std::find(columns.begin(), columns.end(), name) - columns.begin(); };
    std::map<std::string, int> points;
    for (const auto& l : lines) {
        if (l.find(",latency,") == std::string::npos) continue;
        std::vector<std::string> cells;
        std::stringstream ss(l);
        for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
        ASSERT_EQ(cells.size(), columns.size()) << l;
        double lo = std::stod(cells[column("point_p99_min_us")]), mid = std::stod(cells[column("point_p99_median_us")]),
               hi = std::stod(cells[column("point_p99_max_us")]);
        EXPECT_GT(lo, 0) << l;
        EXPECT_LE(lo, mid) << l;
        EXPECT_LE(mid, hi) << l;
        ++points[cells[0]];
    }
    for (const char* server : {"floor", "loop", "2 loops handoff", "threads"}) {
        EXPECT_GE(points[server], 2) << server << ": a sweep stops after two loads it fell behind at, not before";
    }
    // The hog chart's data: blocking served one of its 8 short clients, and the 7 others are drawn.
    if (std::filesystem::exists(out / "hol.dat")) {
        std::ifstream hol(out / "hol.dat");
        std::string text((std::istreambuf_iterator<char>(hol)), {});
        EXPECT_TRUE(std::regex_search(text, std::regex(R"("blocking / hog" [0-9.e+]+ 7 8 "7 of 8 never served")"))) << text;
        EXPECT_TRUE(std::regex_search(text, std::regex(R"("loop --workers 2 / hog" [0-9.e+]+ 0 8 "served 8/8")"))) << text;
    }
    std::ifstream json(out / "compare.json");
    std::string text((std::istreambuf_iterator<char>(json)), {});
    EXPECT_NE(text.find("\"machine\""), std::string::npos);
    EXPECT_NE(text.find("\"served\""), std::string::npos);
    for (const char* key : {"\"machine_verdict\"", "\"conclusion_1\"", "\"spoiled\"", "\"machine_others_cores\""}) {
        EXPECT_NE(text.find(key), std::string::npos) << key;
    }
    std::filesystem::remove_all(out);
}

// A port on 127.0.0.1 where nobody listens: bound (so nobody else takes it) but not listening.
struct DeadPort {
    Fd sock{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    std::uint16_t port = 0;
    DeadPort() {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&a), len) == 0 &&
            ::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0) {
            port = ntohs(a.sin_port);
        }
    }
};

// A run that measured nothing says so in one line and exits 4, never 0; with --requests too, where
// it used to wait for replies that could never come.
TEST(BenchExit, NothingMeasuredIsExitCodeFourAndOneLine) {
    DeadPort dead;
    ASSERT_NE(dead.port, 0);
    for (std::vector<std::string> extra : {std::vector<std::string>{"-d", "0.3s"},
                                           {"--requests", "10", "-d", "1s", "--timeout", "1s"}}) {
        std::vector<std::string> args{"run", "--port", std::to_string(dead.port), "--warmup", "0.1s"};
        args.insert(args.end(), extra.begin(), extra.end());
        Finished run = run_to_end(bin("fib-bench"), args, 10s);
        EXPECT_EQ(run.code, 4) << run.output;
        EXPECT_EQ(lines_starting(run.output, "error: "), 1) << run.output;
        EXPECT_NE(run.output.find("error: nothing measured: no connection was established (8 refused by the kernel)"),
                  std::string::npos) << run.output;
    }
}

// What a run against a real server says at its edges: a --fib the server refuses is "every reply
// was an error line" with the first of them (not "no reply arrived"); --server-pid must be the
// server's; the threads reported are the threads used; --host localhost finds a server that
// listens on ::1 only.
TEST(BenchExit, ARunSaysWhatItMeasuredAtItsEdges) {
    ServerProcess server(bin("fib-loop"), {"--quiet"});
    std::string port = std::to_string(server.port());
    Finished refused = run_to_end(bin("fib-bench"), {"run", "--port", port, "--fib", "41", "-d", "0.2s", "--warmup", "0s"}, 20s);
    EXPECT_EQ(refused.code, 4) << refused.output;
    EXPECT_NE(refused.output.find("error: nothing measured: every reply was an error line"), std::string::npos) << refused.output;
    EXPECT_NE(refused.output.find("error: n out of range 0..40: \"41\""), std::string::npos) << refused.output;
    Finished init = run_to_end(bin("fib-bench"), {"run", "--port", port, "--server-pid", "1", "-d", "0.2s"}, 20s);
    EXPECT_EQ(init.code, 1) << init.output;
    EXPECT_NE(init.output.find("--server-pid 1 does not listen on 127.0.0.1:" + port), std::string::npos) << init.output;
    Finished threads = run_to_end(bin("fib-bench"), {"run", "--port", port, "-c", "2", "--threads", "4", "-d", "0.2s", "--warmup", "0s"}, 20s);
    EXPECT_EQ(threads.code, 0) << threads.output;
    EXPECT_NE(threads.output.find("2 clients on fib(1), closed loop, pipeline 1, 2 threads"), std::string::npos) << threads.output;
    EXPECT_EQ(server.stop(), 0);
}

// --host tries each address of a name, as a client would: with localhost both ::1 and 127.0.0.1,
// a server on ::1 alone is found (261367e tried the first address only).
TEST(BenchExit, AHostWithSeveralAddressesIsTriedOnEach) {
    Addresses local("localhost", 1, /*passive=*/false, "localhost");
    bool v4 = false, v6 = false;
    for (const addrinfo* a = local.first(); a != nullptr; a = a->ai_next) (a->ai_family == AF_INET6 ? v6 : v4) = true;
    if (!(v4 && v6)) GTEST_SKIP() << "localhost is not both 127.0.0.1 and ::1 on this machine (/etc/hosts)";
    ServerProcess v6_only(bin("fib-loop"), {"--quiet", "--host", "::1"});
    Finished localhost = run_to_end(bin("fib-bench"), {"run", "--host", "localhost", "--port", std::to_string(v6_only.port()),
                                                       "-d", "0.2s", "--warmup", "0s"}, 20s);
    EXPECT_EQ(localhost.code, 0) << localhost.output;
    EXPECT_NE(localhost.output.find("target       [::1]:"), std::string::npos) << localhost.output;
    EXPECT_EQ(v6_only.stop(), 0);
}

// Every argument that cannot make a run is refused before any load, with a non-zero exit code and
// one line that names it.
TEST(BenchExit, AnArgumentThatCannotMakeARunIsRefusedInOneLine) {
    DeadPort dead;
    rlimit files{};
    ::getrlimit(RLIMIT_NOFILE, &files);
    std::string too_many = std::to_string(std::min<rlim_t>(files.rlim_max, 10'000'000) + 1);
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"--duration", "abc"}, "--duration abc: not a time"},
        {{"--duration", "-5s"}, "--duration -5s: must be above 0"},
        {{"--duration", "5parsecs"}, "--duration 5parsecs: unknown unit"},
        {{"--warmup", "nan"}, "--warmup nan: must be 0 or more"},
        {{"--timeout", "0"}, "--timeout 0: must be above 0"},
        {{"--rate", "inf"}, "--rate"},
        {{"--rate", "nan"}, "--rate"},
        {{"--rate", "-5"}, "--rate"},
        {{"--rate", "1e300"}, "--rate"},
        {{"--clients", too_many}, "need more descriptors than this process may open"},
        {{"--host", "no.such.host.invalid"}, "cannot resolve no.such.host.invalid"},
        {{"--fib", "93"}, "--fib"},
        {{"--hog", "1", "--hog-n", "100"}, "--hog-n"},
        {{"--requests", "0"}, "--requests"},
        {{"--clients", "0"}, "--clients 0 and no --hog: there is nobody to measure"},
        {{"--threads", "100000"}, "--threads"},
        {{"--server-pid", "-1"}, "--server-pid"},
        {{"--json", "/nonexistent/x"}, "--json /nonexistent/x: cannot write there"},
        {{"--batch", "--rate", "100"}, "--batch is for the closed loop"},
    };
    for (const auto& [extra, says] : cases) {
        std::vector<std::string> args{"run", "--port", std::to_string(dead.port)};
        args.insert(args.end(), extra.begin(), extra.end());
        Finished run = run_to_end(bin("fib-bench"), args, 30s);
        EXPECT_NE(run.code, 0) << extra[0] << " " << extra[1] << ":\n" << run.output;
        EXPECT_NE(run.output.find(says), std::string::npos) << extra[0] << " " << extra[1] << ":\n" << run.output;
        EXPECT_EQ(run.output.find("target "), std::string::npos) << "a run started anyway:\n" << run.output;
    }
    Finished compare = run_to_end(bin("fib-bench"), {"compare", "--quick", "--bin", "/nonexistent"}, 10s);
    EXPECT_EQ(compare.code, 1) << compare.output;
    EXPECT_EQ(lines_starting(compare.output, "error: no server to compare in /nonexistent"), 1) << compare.output;
}

}  // namespace
}  // namespace fibs::test
