// The docs are verified, not hoped: every ```console and ```nc block in README.md and docs/*.md is
// replayed against the real programs, and every relative link must point at something that exists.
//
//   ```console   "$ command" lines, each followed by what it prints. A server command
//                (fib-blocking, fib-loop, fib-threads) starts that server on a free port for the
//                rest of the page; other commands (fib-bench, printf | nc) run with the page's
//                port 25000 replaced by the real one; their stdout is compared (fib-bench's
//                progress goes to stderr). "..." stands for any lines. A number
//                followed by a unit (µs, ms, s, %, MiB, replies/s, replies) may differ, and so may
//                the client limit in "(epoll, up to 19,984 clients)"; every other number must match.
//   ```nc        a session with the page's server: "> " lines are typed, the others are replies.
//   ```sh        instructions that are not replayed (builds, installs).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "servers.hpp"

#ifndef FIBS_SOURCE_DIR
#error "FIBS_SOURCE_DIR must name the repository"
#endif

namespace fibs::test {
namespace {

namespace fs = std::filesystem;

const std::string kDocPort = "25000";

struct Block {
    std::string info;
    std::vector<std::string> lines;
    int line = 0;  // where it starts in the page
};

std::vector<std::string> read_lines(const fs::path& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    return lines;
}

std::vector<Block> blocks_of(const std::vector<std::string>& lines) {
    std::vector<Block> out;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (lines[i].rfind("```", 0) != 0) continue;
        Block b{lines[i].substr(3), {}, static_cast<int>(i + 1)};
        for (++i; i < lines.size() && lines[i].rfind("```", 0) != 0; ++i) b.lines.push_back(lines[i]);
        out.push_back(b);
    }
    return out;
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

// An expected line as a regex: numbers with a unit vary, 127.0.0.1:<port> is the real port for the
// page's port and anything for a client's, every other character is literal.
std::regex pattern_of(const std::string& expected, const std::string& port) {
    static const std::regex time_unit(R"(^ ?(ns|µs|ms|s)\b)");
    // " clients)": the end of a server's "Listening on ... (epoll, up to 19,984 clients)", which
    // depends on the machine's descriptor limit.
    static const std::regex unit(R"(^ ?(%|MiB|KiB|replies/s|replies\b|clients\)))");
    static const std::string special = R"(\^$.|?*+()[]{}/)";
    std::string re;
    for (std::size_t i = 0; i < expected.size();) {
        if (expected.compare(i, 10, "127.0.0.1:") == 0) {
            std::size_t end = expected.find_first_not_of("0123456789", i + 10);
            if (end == std::string::npos) end = expected.size();
            std::string p = expected.substr(i + 10, end - i - 10);
            re += "127\\.0\\.0\\.1:" + (p == kDocPort ? port : std::string("[0-9]+"));
            i = end;
            continue;
        }
        if (std::isdigit(static_cast<unsigned char>(expected[i]))) {
            std::size_t end = expected.find_first_not_of("0123456789,.", i);
            if (end == std::string::npos) end = expected.size();
            while (end > i && (expected[end - 1] == '.' || expected[end - 1] == ',')) --end;
            std::string rest = expected.substr(end);
            std::smatch u;
            if (std::regex_search(rest, u, time_unit)) {  // 40 µs may read 7.95 ms on another run
                re += "[0-9][0-9,]*(\\.[0-9]+)? ?(ns|µs|ms|s)";
                end += static_cast<std::size_t>(u.length(0));
            } else if (std::regex_search(rest, unit)) {
                re += "[0-9][0-9,]*(\\.[0-9]+)?";
            } else {
                re += expected.substr(i, end - i);
                for (std::size_t k = re.size() - (end - i); k < re.size(); ++k) {
                    if (re[k] == '.') re.replace(k++, 1, "\\.");
                }
            }
            i = end;
            continue;
        }
        if (special.find(expected[i]) != std::string::npos) re += '\\';
        re += expected[i++];
    }
    return std::regex(re);
}

// Ordered match: "..." skips any lines; otherwise lines follow each other. Output past the last
// expected line is allowed only after a final "..." or when `trailing_ok`.
std::string mismatch(const std::vector<std::string>& expected, const std::vector<std::string>& actual,
                     const std::string& port, bool trailing_ok) {
    std::size_t a = 0;
    bool skipping = false;
    for (const auto& e : expected) {
        if (e == "...") {
            skipping = true;
            continue;
        }
        std::regex re = pattern_of(e, port);
        if (skipping) {
            while (a < actual.size() && !std::regex_match(actual[a], re)) ++a;
        }
        if (a >= actual.size() || !std::regex_match(actual[a], re)) {
            std::string got;
            for (const auto& l : actual) got += "  | " + l + "\n";
            return "expected line not found: " + e + "\noutput was:\n" + got;
        }
        ++a;
        skipping = false;
    }
    if (!skipping && !trailing_ok && a < actual.size()) return "unexpected output: " + actual[a];
    return "";
}

std::vector<std::string> words(const std::string& s) {
    std::istringstream in(s);
    std::vector<std::string> out;
    for (std::string w; in >> w;) out.push_back(w);
    return out;
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    for (std::size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += to.size()) s.replace(at, from.size(), to);
    return s;
}

class DocPage : public testing::TestWithParam<std::string> {
protected:
    void TearDown() override { stop_server(); }

    void stop_server() {
        if (!server_) return;
        EXPECT_EQ(server_->stop(), 0) << "the page's server did not exit cleanly";
        EXPECT_EQ(mismatch(server_expect_, server_->lines(), std::to_string(server_->port()), true), "")
            << "server output, " << where_;
        server_.reset();
    }

    void start_server(const std::string& command, const std::vector<std::string>& expect) {
        stop_server();
        auto w = words(command);
        std::string exe = fs::path(w[0]).filename();
        std::vector<std::string> args;
        for (std::size_t i = 1; i < w.size(); ++i) {
            if (w[i] == "--port") {
                ++i;  // the docs' fixed port; the test uses a free one
                continue;
            }
            args.push_back(w[i]);
        }
        server_ = std::make_unique<ServerProcess>(bin(exe), args);
        server_expect_ = expect;
    }

    void run_command(const std::string& command, const std::vector<std::string>& expect) {
        if (command.find("nc ") != std::string::npos && ::system("command -v nc >/dev/null 2>&1") != 0) {
            GTEST_SKIP() << "needs nc (netcat-openbsd, installed by ./workshop setup)";
        }
        ASSERT_TRUE(server_) << where_ << ": no server started on this page before: " << command;
        std::string port = std::to_string(server_->port());
        std::string cmd = replace_all(replace_all(command, "build/release/bin/", std::string(FIBS_BIN_DIR) + "/"),
                                      kDocPort, port);
        // stdout only: on a terminal fib-bench's progress (stderr) is rewritten in place and gone.
        Finished run = run_to_end("/bin/bash", {"-c", cmd + " 2>/dev/null"}, 60s);
        EXPECT_EQ(run.code, 0) << where_ << ": " << command << "\n" << run.output;
        EXPECT_EQ(mismatch(expect, split_lines(run.output), port, false), "") << where_ << ": " << command;
    }

    void console(const Block& b) {
        for (std::size_t i = 0; i < b.lines.size();) {
            ASSERT_EQ(b.lines[i].rfind("$ ", 0), 0u) << where_ << ": a console block starts with '$ '";
            std::string command = b.lines[i].substr(2);
            std::vector<std::string> expect;
            for (++i; i < b.lines.size() && b.lines[i].rfind("$ ", 0) != 0; ++i) expect.push_back(b.lines[i]);
            std::string exe = fs::path(words(command).at(0)).filename();
            if (exe == "fib-blocking" || exe == "fib-loop" || exe == "fib-threads") {
                start_server(command, expect);
            } else if (exe == "fib-bench" || command.find("| nc ") != std::string::npos) {
                run_command(command, expect);
            } else {
                FAIL() << where_ << ": cannot replay '" << command << "'; use a ```sh block for it";
            }
        }
    }

    void nc(const Block& b) {
        ASSERT_TRUE(server_) << where_ << ": an nc session needs a server started earlier on the page";
        Client c(server_->port());
        for (const auto& line : b.lines) {
            if (line == ">" || line.rfind("> ", 0) == 0) {
                c.send(line.substr(std::min<std::size_t>(2, line.size())) + "\n");
            } else {
                EXPECT_EQ(c.read_line(10s), line) << where_;
            }
        }
    }

    std::unique_ptr<ServerProcess> server_;
    std::vector<std::string> server_expect_;
    std::string where_;
};

TEST_P(DocPage, SessionsReplayAgainstTheRealPrograms) {
    fs::path page = fs::path(FIBS_SOURCE_DIR) / GetParam();
    int replayed = 0;
    for (const Block& b : blocks_of(read_lines(page))) {
        where_ = GetParam() + ":" + std::to_string(b.line);
        if (b.info == "console") {
            console(b);
            ++replayed;
        } else if (b.info == "nc") {
            nc(b);
            ++replayed;
        }
        if (HasFatalFailure() || IsSkipped()) return;
    }
    stop_server();
    RecordProperty("replayed_blocks", replayed);
}

std::string slug(std::string heading) {
    std::string out;
    for (unsigned char c : heading) {
        if (std::isalnum(c) || c == '-' || c == '_' || c >= 0x80) {
            out += static_cast<char>(std::tolower(c));
        } else if (c == ' ') {
            out += '-';
        }
    }
    return out;
}

TEST_P(DocPage, LinksPointAtThingsThatExist) {
    fs::path page = fs::path(FIBS_SOURCE_DIR) / GetParam();
    auto lines = read_lines(page);
    static const std::regex link(R"(\]\(([^)\s]+)\))");
    bool in_code = false;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        if (lines[i].rfind("```", 0) == 0) in_code = !in_code;
        if (in_code) continue;
        for (std::sregex_iterator it(lines[i].begin(), lines[i].end(), link), end; it != end; ++it) {
            std::string target = (*it)[1];
            if (target.rfind("http://", 0) == 0 || target.rfind("https://", 0) == 0) continue;
            std::string file = target.substr(0, target.find('#'));
            std::string anchor = target.find('#') == std::string::npos ? "" : target.substr(target.find('#') + 1);
            fs::path resolved = file.empty() ? page : page.parent_path() / file;
            EXPECT_TRUE(fs::exists(resolved)) << GetParam() << ":" << i + 1 << ": broken link " << target;
            if (!anchor.empty() && fs::exists(resolved) && resolved.extension() == ".md") {
                bool found = false;
                for (const auto& l : read_lines(resolved)) {
                    if (l.rfind("#", 0) == 0) found |= slug(l.substr(l.find(' ') + 1)) == anchor;
                }
                EXPECT_TRUE(found) << GetParam() << ":" << i + 1 << ": no heading for #" << anchor;
            }
        }
    }
}

std::vector<std::string> pages() {
    std::vector<std::string> out{"README.md"};
    for (const auto& e : fs::directory_iterator(fs::path(FIBS_SOURCE_DIR) / "docs")) {
        if (e.path().extension() == ".md") out.push_back("docs/" + e.path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string page_name(const testing::TestParamInfo<std::string>& info) {
    std::string name;
    for (char c : info.param) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
    return name;
}

INSTANTIATE_TEST_SUITE_P(Docs, DocPage, testing::ValuesIn(pages()), page_name);

// Every page of the workshop leads back to its start, and each step on to the next one.
TEST(DocPaths, EveryPageLinksBackToTheWorkshopAndEachStepToTheNext) {
    const std::map<std::string, std::string> next = {
        {"docs/README.md", "step1-blocking.md"},
        {"docs/step1-blocking.md", "step2-two-clients.md"},
        {"docs/step2-two-clients.md", "step3-coroutine-loop.md"},
        {"docs/step3-coroutine-loop.md", "bonus-threads.md"},
        {"docs/step3-deeper.md", "step4-co-await.md"},
        {"docs/step4-co-await.md", "step5-loop-per-core.md"},
        {"docs/step5-loop-per-core.md", "step6-one-queue.md"},
        {"docs/step6-one-queue.md", "bonus-threads.md"},
        {"docs/bonus-threads.md", "results.md"},
    };
    for (const auto& page : pages()) {
        if (page.rfind("docs/", 0) != 0) continue;
        std::string text;
        for (const auto& l : read_lines(fs::path(FIBS_SOURCE_DIR) / page)) text += l + "\n";
        if (page != "docs/README.md") {
            EXPECT_TRUE(text.find("](README.md)") != std::string::npos || text.find("](README.md#") != std::string::npos)
                << page << " has no link back to docs/README.md";
        }
        if (auto it = next.find(page); it != next.end()) {
            EXPECT_NE(text.find("](" + it->second + ")"), std::string::npos) << page << " does not lead on to " << it->second;
        }
    }
}

// What differs between Step 1's handler and a later step's (`diff -U1` of the two functions,
// without the "---" and "+++" lines that name temporary files), and the diff a page shows.
std::vector<std::string> diff_from_step1(const std::string& file, const std::string& first) {
    auto function = [](const std::string& f, const std::string& start) {
        std::string out;
        bool in = false;
        for (const auto& l : read_lines(fs::path(FIBS_SOURCE_DIR) / f)) {
            in = in || l.rfind(start, 0) == 0;
            if (in) out += l + "\n";
            if (in && l == "}") break;
        }
        return out;
    };
    auto dir = fs::temp_directory_path();
    std::string id = std::to_string(::getpid());
    fs::path step1 = dir / ("handler1-" + id), later = dir / ("handler-later-" + id);
    std::ofstream(step1) << function("common/handler.cpp", "void fib_handler(");
    std::ofstream(later) << function(file, first);
    Finished diff = run_to_end("/usr/bin/diff", {"-U1", step1.string(), later.string()});
    fs::remove(step1);
    fs::remove(later);
    std::vector<std::string> real = split_lines(diff.output);
    if (real.size() > 2) real.erase(real.begin(), real.begin() + 2);
    return real;
}

std::vector<std::string> diff_shown_on(const std::string& page) {
    std::vector<std::string> shown;
    for (const Block& b : blocks_of(read_lines(fs::path(FIBS_SOURCE_DIR) / page))) {
        if (b.info == "diff") shown = b.lines;
    }
    return shown;
}

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
}

TEST(DocPaths, Step3ShowsTheRealDiffBetweenTheTwoHandlers) {
    auto real = diff_from_step1("02_coroutine_loop/main.cpp", "Task fib_handler(");
    ASSERT_FALSE(real.empty());
    EXPECT_EQ(diff_shown_on("docs/step3-coroutine-loop.md"), real)
        << "docs/step3-coroutine-loop.md shows another diff than the code has; today's:\n" << joined(real);
}

// Every file of this repository that Step 3's main.cpp reads, by its #include "..." lines, one
// file after another (the steps' folders and common/), as the path a link on the page names.
std::set<std::string> included_by(const std::string& file) {
    const fs::path root(FIBS_SOURCE_DIR);
    std::set<std::string> seen{file};
    std::vector<std::string> todo{file};
    static const std::regex include(R"re(^#include "([^"]+)")re");
    while (!todo.empty()) {
        fs::path at = root / todo.back();
        todo.pop_back();
        for (const auto& line : read_lines(at)) {
            std::smatch m;
            if (!std::regex_search(line, m, include)) continue;
            for (const fs::path& dir : {at.parent_path(), root / "common"}) {  // the include path
                if (!fs::exists(dir / m[1].str())) continue;
                std::string rel = fs::relative(dir / m[1].str(), root).string();
                if (seen.insert(rel).second) todo.push_back(rel);
                break;
            }
        }
    }
    return seen;
}

TEST(DocPaths, Step3NamesEveryFileItsHandlerIncludes) {
    std::string page = joined(read_lines(fs::path(FIBS_SOURCE_DIR) / "docs/step3-coroutine-loop.md"));
    std::set<std::string> files = included_by("02_coroutine_loop/main.cpp");
    EXPECT_GE(files.size(), 10u) << "the include walk found too little to be right";
    for (const auto& f : files) EXPECT_NE(page.find("](../" + f + ")"), std::string::npos) << "Step 3 does not link " << f;
}

// Step 4's lesson is its diff: with co_await the handler reads like Step 1's again.
TEST(DocPaths, Step4ShowsTheRealDiffAndAtMostTwelveLinesDiffer) {
    auto real = diff_from_step1("02_coroutine_loop/handler_await.cpp", "Async<> fib_handler(");
    ASSERT_FALSE(real.empty());
    EXPECT_EQ(diff_shown_on("docs/step4-co-await.md"), real)
        << "docs/step4-co-await.md shows another diff than the code has; today's:\n" << joined(real);
    auto count = [](const std::vector<std::string>& diff, char sign) {
        return std::count_if(diff.begin(), diff.end(), [sign](const std::string& l) { return !l.empty() && l[0] == sign; });
    };
    EXPECT_LE(count(real, '+'), 12) << joined(real);
    // The page counts both diffs one way, lines removed and lines added, and its counts are the diffs'.
    auto step3 = diff_from_step1("02_coroutine_loop/main.cpp", "Task fib_handler(");
    std::string text;
    for (const auto& l : read_lines(fs::path(FIBS_SOURCE_DIR) / "docs/step4-co-await.md")) text += l + " ";
    std::smatch m;
    ASSERT_TRUE(std::regex_search(text, m, std::regex(R"(Step 3's diff removes (\d+) of Step 1's lines and adds (\d+); this one removes (\d+) and adds (\d+))")));
    EXPECT_EQ(std::stol(m[1]), count(step3, '-'));
    EXPECT_EQ(std::stol(m[2]), count(step3, '+'));
    EXPECT_EQ(std::stol(m[3]), count(real, '-'));
    EXPECT_EQ(std::stol(m[4]), count(real, '+'));
}

// Where `name` ("Loop::run", "Clients", "fib_server") is defined in a source file's `lines`: the
// number of lines from the line that names it (not a comment, not a declaration ending in ';')
// to the brace that closes it; 0 if the file defines no such thing. A page links a function or a
// class by its name, not by line numbers, so that an exercise that edits the file moves nothing.
long definition_lines(const std::vector<std::string>& lines, const std::string& name) {
    const std::string last = name.substr(name.rfind(':') == std::string::npos ? 0 : name.rfind(':') + 1);
    const std::regex starts("(^|[^A-Za-z0-9_:])" + name + R"(\s*\(|\b(class|struct) )" + last + R"(\b)");
    for (std::size_t i = 0; i < lines.size(); ++i) {
        const std::string& l = lines[i];
        auto text = l.find_first_not_of(' ');
        if (text == std::string::npos || l.compare(text, 2, "//") == 0 || !std::regex_search(l, starts)) continue;
        int depth = 0;
        bool opened = false;
        for (std::size_t j = i; j < lines.size(); ++j) {
            for (char c : lines[j]) {
                if (c == ';' && !opened) break;  // a declaration: look further
                depth += (c == '{') - (c == '}');
                opened = opened || c == '{';
            }
            if (!opened && lines[j].find(';') != std::string::npos) break;
            if (opened && depth == 0) return static_cast<long>(j - i + 1);
        }
    }
    return 0;
}

// The time a page states is a time a careful reader can keep. A page opens with
//   "About 30 minutes to read and run: this page, [`task.hpp`](../02_coroutine_loop/task.hpp) and
//    [`Loop::run`](../02_coroutine_loop/loop.cpp). ..."
// and the test recomputes it: the page's prose at 200 words a minute, the lines of its blocks
// (code, diffs, sessions, commands) at 10 a minute, a minute more to run each session (```console,
// ```nc), and the code it sends the reader to at 10 lines a minute. That code is every link to a
// source file up to the end of the sentence: the whole file when the link's text is the file's
// name or path, else the definition the text names (definition_lines). docs/README.md's path table
// repeats each page's time, and its core total is their sum.
struct ReadingTime {
    int stated = 0;
    double computed = 0;
    std::string why;  // how `computed` was made, for a failing assertion
};

ReadingTime reading_time(const std::string& page) {
    const fs::path root(FIBS_SOURCE_DIR);
    auto lines = read_lines(root / page);
    ReadingTime rt;
    long prose = 0, code = 0, sessions = 0, linked = 0;
    std::string info;
    bool in_block = false;
    for (const auto& l : lines) {
        if (l.rfind("```", 0) == 0) {
            in_block = !in_block;
            info = l.substr(3);
            if (in_block && (info == "console" || info == "nc")) ++sessions;
            continue;
        }
        if (!in_block) {
            prose += static_cast<long>(words(l).size());
        } else {
            ++code;  // every block's lines, sessions included: a line of output is read as a line
        }
    }
    std::string text;
    for (const auto& l : lines) text += l + " ";
    std::smatch m;
    if (!std::regex_search(text, m, std::regex(R"(About (\d+) minutes to read and run)"))) return rt;
    rt.stated = std::stoi(m[1]);
    std::size_t from = static_cast<std::size_t>(m.position(0) + m.length(0));
    std::size_t end = std::min(text.find(". ", from), text.find("; ", from));
    std::string list = text.substr(from, end - from);
    static const std::regex link(R"(\[`([^`]+)`\]\(\.\./([A-Za-z0-9_/]+\.(?:hpp|cpp))\))");
    rt.why = page + ": " + std::to_string(prose) + " words, " + std::to_string(code) + " lines of code blocks, " +
             std::to_string(sessions) + " sessions";
    for (std::sregex_iterator it(list.begin(), list.end(), link), stop; it != stop; ++it) {
        const std::string name = (*it)[1], file = (*it)[2];
        auto source = read_lines(root / file);
        long n = static_cast<long>(source.size());
        const bool whole = name == file || name == fs::path(file).filename();
        if (!whole) {
            n = definition_lines(source, name);
            EXPECT_GT(n, 0) << page << " sends the reader to `" << name << "` in " << file << ", which no longer defines it";
        }
        linked += n;
        rt.why += ", " + file + (whole ? "" : " " + name) + " " + std::to_string(n) + " lines";
    }
    rt.computed = static_cast<double>(prose) / 200 + static_cast<double>(code + linked) / 10 + static_cast<double>(sessions);
    return rt;
}

const std::vector<std::string> kTimedPages = {
    "docs/step1-blocking.md", "docs/step2-two-clients.md", "docs/step3-coroutine-loop.md", "docs/step3-deeper.md",
    "docs/step4-co-await.md", "docs/step5-loop-per-core.md", "docs/step6-one-queue.md", "docs/bonus-threads.md"};

TEST(DocTimes, EveryStepStatesAtLeastTheTimeItsWordsAndCodeTake) {
    for (const auto& page : kTimedPages) {
        ReadingTime rt = reading_time(page);
        ASSERT_GT(rt.stated, 0) << page << " states no \"About N minutes to read and run\"";
        EXPECT_GE(rt.stated, static_cast<int>(std::ceil(rt.computed)))
            << rt.why << ": " << rt.computed << " minutes, more than the " << rt.stated << " it states";
    }
}

// A definition is found by its name wherever it moves, and only a definition: not a call, a
// declaration or a comment.
TEST(DocTimes, ALinkedNameCountsItsDefinitionWhereverItIs) {
    std::vector<std::string> file = {"// Loop::run() in a comment", "void Loop::run();", "", "int x = f(run());",
                                     "void Loop::run() {", "    if (a) {", "    }", "}", "class Clients : Base {", "};"};
    EXPECT_EQ(definition_lines(file, "Loop::run"), 4);
    EXPECT_EQ(definition_lines(file, "Clients"), 2);
    EXPECT_EQ(definition_lines(file, "fib_server"), 0);
    file.insert(file.begin(), 10, "");  // an edit above it
    EXPECT_EQ(definition_lines(file, "Loop::run"), 4);
}

// No page links a source file by line numbers (#L12-L40): an exercise that edits the file would
// leave the link pointing at other lines.
TEST(DocLinks, NoPageLinksSourceByLineNumbers) {
    static const std::regex by_line(R"(\]\([^)]*\.(?:hpp|cpp)#L\d+)");
    for (const auto& page : pages()) {
        for (const auto& l : read_lines(fs::path(FIBS_SOURCE_DIR) / page)) {
            EXPECT_FALSE(std::regex_search(l, by_line)) << page << ": " << l;
        }
    }
}

// The rule can fail: a page of 2,000 words and a 100-line file is more than 10 minutes.
TEST(DocTimes, TheRuleCountsWordsSessionsAndLinkedCode) {
    ReadingTime step3 = reading_time("docs/step3-coroutine-loop.md");
    auto task = read_lines(fs::path(FIBS_SOURCE_DIR) / "02_coroutine_loop/task.hpp");
    EXPECT_NE(step3.why.find("task.hpp " + std::to_string(task.size()) + " lines"), std::string::npos) << step3.why;
    EXPECT_GT(step3.computed, 20) << step3.why;
}

TEST(DocTimes, ThePathTableRepeatsEachPageAndTheCoreTotalIsTheirSum) {
    std::map<std::string, int> table;
    int core = 0;
    static const std::regex row(R"(^\| \[[^\]]+\]\(([a-z0-9-]+\.md)\) \|[^|]*\| (\d+) min(?: \(optional\))? \|)");
    for (const auto& l : read_lines(fs::path(FIBS_SOURCE_DIR) / "docs/README.md")) {
        std::smatch m;
        if (!std::regex_search(l, m, row)) continue;
        table["docs/" + m[1].str()] = std::stoi(m[2]);
        if (l.find("(optional)") == std::string::npos) core += std::stoi(m[2]);
    }
    for (const auto& page : kTimedPages) {
        ASSERT_TRUE(table.count(page)) << "docs/README.md's path table has no row for " << page;
        EXPECT_EQ(table[page], reading_time(page).stated) << page;
    }
    std::string text;
    for (const auto& l : read_lines(fs::path(FIBS_SOURCE_DIR) / "docs/README.md")) text += l + " ";
    std::smatch total;
    ASSERT_TRUE(std::regex_search(text, total, std::regex(R"(The core path[^.]* is (\d+) minutes)")));
    EXPECT_EQ(std::stoi(total[1]), core);
}

// results.md quotes one compare run, and never one in which the machine or the bench was the limit
// (compare says so in compare.json: machine_limited).
TEST(DocResults, TheCommittedRunWasNotLimitedByTheMachine) {
    std::ifstream json(fs::path(FIBS_SOURCE_DIR) / "docs/results/compare.json");
    std::string machine;
    ASSERT_TRUE(std::getline(json, machine) && std::getline(json, machine));
    EXPECT_NE(machine.find("\"machine_limited\": \"no\""), std::string::npos) << machine;
}

// One figure for one fact. A paragraph of another page that links results.md quotes its figures
// (a number with µs, ms, MiB or ×) as results.md states them; what was measured elsewhere goes in
// a paragraph of its own, which says how it was measured.
TEST(DocResults, AFigureQuotedFromResultsIsResultsFigure) {
    std::string results;
    for (const auto& l : read_lines(fs::path(FIBS_SOURCE_DIR) / "docs/results.md")) results += l + "\n";
    static const std::regex figure(R"((\d[\d,.]*) ?(µs|ms|MiB|×))");
    for (const auto& page : pages()) {
        if (page == "docs/results.md") continue;
        std::vector<std::string> paragraphs{""};
        bool in_block = false;
        for (const auto& l : read_lines(fs::path(FIBS_SOURCE_DIR) / page)) {
            if (l.rfind("```", 0) == 0) in_block = !in_block;
            if (in_block || l.rfind("```", 0) == 0) continue;
            if (l.empty()) paragraphs.emplace_back();
            else paragraphs.back() += l + " ";
        }
        for (const auto& para : paragraphs) {
            if (para.find("results.md") == std::string::npos) continue;
            for (std::sregex_iterator it(para.begin(), para.end(), figure), end; it != end; ++it) {
                std::string number = (*it)[1], unit = (*it)[2];
                bool found = results.find(number + " " + unit) != std::string::npos || results.find(number + unit) != std::string::npos;
                EXPECT_TRUE(found) << page << ": \"" << (*it)[0] << "\" is in a paragraph that links results.md, which "
                                   << "does not state it:\n  " << para.substr(0, 300);
            }
        }
    }
}

// The pattern rules themselves: a test that can fail when they are too loose.
TEST(DocPatterns, CountsMustMatchButMeasurementsMayVary) {
    EXPECT_EQ(mismatch({"served       1/8 clients got a reply"}, {"served       8/8 clients got a reply"}, "4000", false).empty(), false);
    EXPECT_EQ(mismatch({"latency      p50 40 µs  max 1.2 ms"}, {"latency      p50 812 µs  max 10.35 ms"}, "4000", false), "");
    EXPECT_EQ(mismatch({"first reply after p50 40 µs"}, {"first reply after p50 7.95 ms"}, "4000", false), "");
    EXPECT_EQ(mismatch({"window       1.00 s measured"}, {"window       1.01 s measured"}, "4000", false), "");
    EXPECT_EQ(mismatch({"Listening on 127.0.0.1:25000"}, {"Listening on 127.0.0.1:4000"}, "4000", false), "");
    EXPECT_EQ(mismatch({"Listening on 127.0.0.1:25000"}, {"Listening on 127.0.0.1:4001"}, "4000", false).empty(), false);
    EXPECT_EQ(mismatch({"55"}, {"55", "56"}, "4000", false).empty(), false);
    EXPECT_EQ(mismatch({"a", "...", "c"}, {"a", "b", "b", "c"}, "4000", false), "");
}

}  // namespace
}  // namespace fibs::test
