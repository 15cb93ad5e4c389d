// compare's judgement of its own rows (bench/verdict.hpp), each rule on its own: a fake machine
// (the /proc/stat text, and the share of a core other processes took) and a fake server (a
// function that hands back a LoadResult), so nothing here needs real load.
#include <gtest/gtest.h>
#include <unistd.h>

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "verdict.hpp"

namespace fibs::test {
namespace {

using bench::LoadResult;
using bench::Measured;

// A run of `server` in one scenario and round, with the share of a core others took during it.
Measured row(const std::string& server, const std::string& scenario, const std::string& setting, int round, double others = 0) {
    Measured m{{server, "fib-fake", {}}, {scenario, setting, {}, round}, {}, {}, {}, {}};
    m.result.machine.others_cores = others;
    m.spoiled = bench::machine_spoiled(m.result.machine);
    m.result.window_s = 1;
    m.result.server_measured = true;
    return m;
}

// CPU per reply in µs, over 1,000 replies.
Measured with_cpu(Measured m, double us) {
    m.result.main.replies = 1000;
    m.result.server_cpu_s = us * 1000 / 1e6;
    return m;
}

// A latency point: offered load and the p99 the round measured (every request took that long).
Measured point(const std::string& server, int round, double rate, double p99_ns, double others = 0) {
    Measured m = row(server, "latency", std::to_string(rate), round, others);
    m.result.config.rate = rate;
    for (int i = 0; i < 100; ++i) m.result.main.latency.record(static_cast<std::uint64_t>(p99_ns));
    return m;
}

TEST(Verdict, ProcStatIsReadAsBusyTimeAndSteal) {
    const double tick = static_cast<double>(::sysconf(_SC_CLK_TCK));
    auto t = bench::parse_proc_stat("cpu  100 5 50 1000 10 7 20 30 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n");
    ASSERT_TRUE(t.has_value());
    EXPECT_DOUBLE_EQ(t->busy_s, (100 + 5 + 50 + 30) / tick) << "idle, iowait and interrupts are not a process's";
    EXPECT_DOUBLE_EQ(t->steal_s, 30 / tick);
    EXPECT_FALSE(bench::parse_proc_stat("intr 1 2 3 4 5 6 7 8").has_value());
    EXPECT_FALSE(bench::parse_proc_stat("cpu 1 2").has_value());
    EXPECT_TRUE(bench::read_cpu_times().has_value()) << "this machine's /proc/stat";
}

TEST(Verdict, OthersTakingAQuarterOfACoreSpoilARun) {
    bench::MachineDelay busy, quiet, unknown;
    busy.others_cores = 0.96;
    quiet.others_cores = 0.03;
    EXPECT_EQ(bench::machine_spoiled(busy), "other processes used 96% of a core");
    EXPECT_EQ(bench::machine_spoiled(quiet), "");
    EXPECT_EQ(bench::machine_spoiled(unknown), "") << "not measured is not spoiled";
}

// The fake server answers from a queue per row: what the machine did to each rerun.
struct FakeServer {
    std::map<std::string, std::deque<double>> others;  // by server label: each rerun's others_cores
    std::vector<std::string> calls;
    std::optional<LoadResult> operator()(const Measured& m) {
        calls.push_back(m.server.label);
        LoadResult r;
        r.machine.others_cores = others[m.server.label].front();
        others[m.server.label].pop_front();
        return r;
    }
};

TEST(Verdict, ASpoiledRowIsRunAgainInPassesUntilTheMachineLeavesItAlone) {
    std::vector<Measured> rows{row("a", "clients", "8", 0, 0.9), row("b", "clients", "8", 0), row("c", "clients", "8", 0, 0.6)};
    FakeServer server;
    server.others = {{"a", {0.05}}, {"c", {0.8, 0.4}}};
    double t = 0;
    int runs = bench::rerun_spoiled(rows, std::ref(server), 2, 100, [&] { return t; });
    EXPECT_EQ(runs, 3);
    EXPECT_EQ(server.calls, (std::vector<std::string>{"a", "c", "c"})) << "a pass takes every spoiled row in turn";
    EXPECT_EQ(rows[0].spoiled, "") << "the clean rerun replaced it";
    EXPECT_DOUBLE_EQ(rows[0].result.machine.others_cores, 0.05);
    EXPECT_EQ(rows[2].spoiled, "other processes used 40% of a core") << "stays spoiled, keeping the less disturbed run";
    EXPECT_DOUBLE_EQ(rows[2].result.machine.others_cores, 0.4);
}

TEST(Verdict, RerunsStopAtTheBudgetAndWhenTheMachineStaysBusy) {
    std::vector<Measured> rows;
    for (int i = 0; i < 10; ++i) rows.push_back(row("s" + std::to_string(i), "clients", "8", 0, 0.9));
    FakeServer busy;
    for (int i = 0; i < 10; ++i) busy.others["s" + std::to_string(i)] = {1.0, 1.0};
    double t = 0;
    EXPECT_EQ(bench::rerun_spoiled(rows, std::ref(busy), 2, 100, [&] { return t; }), bench::kBusyNow)
        << "after kBusyNow spoiled reruns in a row the machine is busy now: no more";
    FakeServer quiet;
    for (int i = 0; i < 10; ++i) quiet.others["s" + std::to_string(i)] = {0.0};
    int runs = bench::rerun_spoiled(rows, [&](const Measured& m) {
        t += 1;  // each rerun takes a second of the fake clock
        return quiet(m);
    }, 2, 3.5, [&] { return t; });
    EXPECT_EQ(runs, 4) << "none starts once 3.5 s are spent";
}

TEST(Verdict, FiguresThatCannotBeTrueAreFlagged) {
    LoadResult r = with_cpu(row("s", "batches", "1 x 2", 0), 178).result;
    EXPECT_EQ(bench::implausible(r, 1000), std::vector<std::string>{"CPU/reply 178 µs under the 1000 µs its fib alone costs"});
    EXPECT_TRUE(bench::implausible(r, 150).empty()) << "above what fib costs";
    EXPECT_TRUE(bench::implausible(r, 0).empty()) << "cost not known";
    r.config.rate = 900;  // 1,000 replies in 1 s where 900/s were offered
    EXPECT_EQ(bench::implausible(r, 0), std::vector<std::string>{"more replies than were offered"});
    r.config.rate = 990;
    EXPECT_TRUE(bench::implausible(r, 0).empty()) << "within 5% of what was offered";
}

TEST(Verdict, ALatencyThatFallsAsLoadRisesBeyondItsSpreadIsFlagged) {
    using bench::Spread;
    EXPECT_EQ(bench::falling({{19e6, 0.8e6, 120e6}, {1e6, 0.9e6, 1.2e6}, {18e6, 17e6, 19e6}}), std::vector<std::size_t>{})
        << "the spreads touch: noise, not a fall";
    EXPECT_EQ(bench::falling({{19e6, 18e6, 21e6}, {0.6e6, 0.5e6, 0.7e6}, {5e6, 4e6, 6e6}}), std::vector<std::size_t>{0});
    EXPECT_EQ(bench::falling({{1e6, 0.9e6, 1.1e6}, {2e6, 1.9e6, 2.1e6}}), std::vector<std::size_t>{}) << "rising: sound";
}

TEST(Verdict, AKneeIsNotToldPastAPointThatSaysNothing) {
    Measured a = point("s", 0, 1000, 1e6), b = point("s", 0, 2000, 2e6), c = point("s", 0, 3000, 30e6);
    EXPECT_EQ(bench::knee_of({&c, &a, &b}), 2000) << "the last load before the first p99 over 10 ms";
    Measured spoiled_b = point("s", 0, 2000, 2e6, 0.9);
    EXPECT_EQ(bench::knee_of({&a, &spoiled_b, &c}), std::nullopt);
    Measured spoiled_after = point("s", 0, 4000, 1e6, 0.9);
    EXPECT_EQ(bench::knee_of({&a, &b, &c, &spoiled_after}), 2000) << "past the knee it does not matter";
    EXPECT_EQ(bench::knee_of({&c}), 0) << "over the knee from the first load";
    EXPECT_EQ(bench::knee_of({&a, &b, &c}, [](const Measured&) { return 1e6; }), 3000)
        << "read through the given p99 (compare's: the median over the rounds), never over the knee";
}

TEST(Verdict, AConclusionStandsOnlyWhenEveryRoundBearsItOut) {
    auto claim = [](const std::vector<Measured>& rows) {
        for (const auto& c : bench::conclusions(rows)) {
            if (c.text.find("the loop spends less CPU per reply than the threads") != std::string::npos) return c;
        }
        return bench::Claim{"missing"};
    };
    std::vector<Measured> rows;
    for (int round = 0; round < 3; ++round) {
        rows.push_back(with_cpu(row("loop", "clients", "8", round), 9));
        rows.push_back(with_cpu(row("threads", "clients", "8", round), 14));
    }
    bench::Claim all = claim(rows);
    EXPECT_TRUE(all.stands());
    EXPECT_EQ(all.evidence(), "3 of 3 rounds");

    rows[2] = with_cpu(row("loop", "clients", "8", 1, 0.9), 9);  // the machine spoiled round 2's loop
    bench::Claim spoiled = claim(rows);
    EXPECT_FALSE(spoiled.stands());
    EXPECT_EQ(spoiled.evidence(), "2 of 3 rounds; 1 could not say");

    rows[2] = with_cpu(row("loop", "clients", "8", 1), 13.5);  // within 10% of the threads: says nothing
    EXPECT_EQ(claim(rows).evidence(), "2 of 3 rounds; 1 could not say");
    rows[2] = with_cpu(row("loop", "clients", "8", 1), 20);
    EXPECT_EQ(claim(rows).evidence(), "2 of 3 rounds; 1 against");
    rows[2].flags.push_back("cannot be true");
    EXPECT_EQ(claim(rows).evidence(), "2 of 3 rounds; 1 could not say") << "a flagged figure says nothing either";
}

TEST(Verdict, KneesAreComparedRoundByRound) {
    std::vector<Measured> rows;
    for (int round = 0; round < 2; ++round) {
        for (double rate : {1000.0, 2000.0, 3000.0}) {
            rows.push_back(point("threads", round, rate, rate < 3000 ? 1e6 : 20e6));
            rows.push_back(point("2 loops handoff", round, rate, rate < 2000 ? 1e6 : 20e6, round == 1 && rate == 1000 ? 0.9 : 0));
        }
    }
    for (const auto& c : bench::conclusions(rows)) {
        if (c.text.find("knee") == std::string::npos) continue;
        EXPECT_EQ(c.evidence(), "1 of 2 rounds; 1 could not say") << "round 2's two loops spoiled below their knee";
        return;
    }
    FAIL() << "no claim about the knees";
}

}  // namespace
}  // namespace fibs::test
