#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "protocol.hpp"
#include "support.hpp"

using fibs::protocol::LineFramer;
using fibs::test::reply_to;

namespace {

std::vector<std::string> lines_of(LineFramer& f) {
    std::vector<std::string> out;
    while (auto l = f.next_line()) out.emplace_back(*l);
    return out;
}

}  // namespace

TEST(LineFramer, JoinsALineSplitAcrossChunks) {
    LineFramer f;
    f.feed("1");
    EXPECT_TRUE(lines_of(f).empty());
    f.feed("2\n");
    EXPECT_EQ(lines_of(f), std::vector<std::string>{"12"});
}

TEST(LineFramer, SplitsManyLinesInOneChunk) {
    LineFramer f;
    f.feed("1\n2\n3\n4");
    EXPECT_EQ(lines_of(f), (std::vector<std::string>{"1", "2", "3"}));
    EXPECT_EQ(f.pending(), 1u);
    f.feed("0\n");
    EXPECT_EQ(lines_of(f), std::vector<std::string>{"40"});
}

TEST(LineFramer, ByteAtATime) {
    LineFramer f;
    std::vector<std::string> got;
    for (char c : std::string("10\r\n20\n")) {
        f.feed(std::string_view(&c, 1));
        for (auto& l : lines_of(f)) got.push_back(l);
    }
    EXPECT_EQ(got, (std::vector<std::string>{"10\r", "20"}));
}

TEST(LineFramer, LastLineWithoutNewlineAtEndOfInput) {
    LineFramer f;
    f.feed("10\n12");
    EXPECT_EQ(lines_of(f), std::vector<std::string>{"10"});
    f.end_input();
    EXPECT_EQ(lines_of(f), std::vector<std::string>{"12"});
    EXPECT_TRUE(lines_of(f).empty());
}

TEST(LineFramer, NoLastLineWhenInputEndedWithNewline) {
    LineFramer f;
    f.feed("10\n");
    f.end_input();
    EXPECT_EQ(lines_of(f), std::vector<std::string>{"10"});
}

TEST(LineFramer, LineOfExactlyMaxBytesIsAccepted) {
    LineFramer f;
    std::string line(fibs::protocol::kMaxLine, '7');
    f.feed(line + "\n");
    EXPECT_EQ(lines_of(f), std::vector<std::string>{line});
    EXPECT_FALSE(f.too_long());
}

TEST(LineFramer, OverlongLineWithNewline) {
    LineFramer f;
    f.feed("1\n" + std::string(fibs::protocol::kMaxLine + 1, '7') + "\n2\n");
    EXPECT_EQ(lines_of(f), std::vector<std::string>{"1"});  // lines before it still count
    EXPECT_TRUE(f.too_long());
}

TEST(LineFramer, OverlongLineIsNoticedBeforeItsNewlineArrives) {
    LineFramer f;
    for (int i = 0; i < 10 && !f.too_long(); ++i) {
        f.feed(std::string(20, '1'));
        lines_of(f);
    }
    EXPECT_TRUE(f.too_long());
    EXPECT_LE(f.pending(), 200u);  // it stopped buffering early
}

TEST(LineFramer, OverlongLastLineAtEndOfInput) {
    LineFramer f;
    f.feed(std::string(fibs::protocol::kMaxLine, '1'));
    EXPECT_TRUE(lines_of(f).empty());
    EXPECT_FALSE(f.too_long());
    f.feed("1");
    f.end_input();
    EXPECT_TRUE(lines_of(f).empty());
    EXPECT_TRUE(f.too_long());
}

TEST(Reply, Numbers) {
    EXPECT_EQ(reply_to("10", 40), "55\n");
    EXPECT_EQ(reply_to("0", 40), "0\n");
    EXPECT_EQ(reply_to("30", 30), "832040\n");  // the largest n allowed is allowed
    auto top = fibs::protocol::parse_request("92", 92);  // accepted; computing it would take years
    EXPECT_TRUE(top.ok());
    EXPECT_EQ(top.n, 92u);
}

TEST(Reply, AppendValueHandlesTheLargest64BitFib) {
    std::string out;
    fibs::protocol::append_value(out, 7540113804746346429ull);  // fib(92)
    EXPECT_EQ(out, "7540113804746346429\n");
}

TEST(Reply, CarriageReturnSpacesAndTabsAreIgnored) {
    EXPECT_EQ(reply_to("12\r", 40), "144\n");
    EXPECT_EQ(reply_to(" \t20 \t", 40), "6765\n");
    EXPECT_EQ(reply_to("007", 40), "13\n");
}

TEST(Reply, EmptyRequest) {
    EXPECT_EQ(reply_to("", 40), "error: empty request\n");
    EXPECT_EQ(reply_to("  \t\r", 40), "error: empty request\n");
}

TEST(Reply, NotANumber) {
    EXPECT_EQ(reply_to("abc", 40), "error: not a number: \"abc\"\n");
    EXPECT_EQ(reply_to("12abc", 40), "error: not a number: \"12abc\"\n");
    EXPECT_EQ(reply_to("-5", 40), "error: not a number: \"-5\"\n");
    EXPECT_EQ(reply_to("+5", 40), "error: not a number: \"+5\"\n");
    EXPECT_EQ(reply_to("1e3", 40), "error: not a number: \"1e3\"\n");
    EXPECT_EQ(reply_to("0x10", 40), "error: not a number: \"0x10\"\n");
    EXPECT_EQ(reply_to("1 2", 40), "error: not a number: \"1 2\"\n");
}

TEST(Reply, UnprintableBytesAreEscapedAndLongTextShortened) {
    EXPECT_EQ(reply_to(std::string("a\0b\x01\xff\"\\", 7), 40),
              "error: not a number: \"a\\x00b\\x01\\xff\\\"\\\\\"\n");
    std::string long_text(100, 'x');
    EXPECT_EQ(reply_to(long_text, 40), "error: not a number: \"" + std::string(32, 'x') + "\"...\n");
}

TEST(Reply, OutOfRange) {
    EXPECT_EQ(reply_to("41", 40), "error: n out of range 0..40: \"41\"\n");
    EXPECT_EQ(reply_to("93", 92), "error: n out of range 0..92: \"93\"\n");
    EXPECT_EQ(reply_to("18446744073709551616", 40),  // 2^64
              "error: n out of range 0..40: \"18446744073709551616\"\n");
    EXPECT_EQ(reply_to("1234567890123456789012345", 40),
              "error: n out of range 0..40: \"1234567890123456789012345\"\n");
    EXPECT_EQ(reply_to("0", 0), "0\n");
    EXPECT_EQ(reply_to("1", 0), "error: n out of range 0..0: \"1\"\n");
}
