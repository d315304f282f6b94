#include "common/tls/tls.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/node_name.h"
#include "common/tls/certs.h"

namespace loom::tls {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class CertsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loom-certs-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(CertsTest, InitMakesCaLoomdAndNodesWithPrivateKeys) {
  ASSERT_TRUE(InitCertificates(dir_, {"n1", "n2"}).ok());
  for (const char* stem : {"ca", "loomd", "node-n1", "node-n2"}) {
    const std::string base = dir_ + "/" + stem;
    ASSERT_TRUE(std::filesystem::exists(base + ".crt")) << stem;
    struct stat st {};
    ASSERT_EQ(stat((base + ".key").c_str(), &st), 0) << stem;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << stem;
  }
  EXPECT_NE(Slurp(dir_ + "/node-n1.crt").find("BEGIN CERTIFICATE"), std::string::npos);
}

TEST_F(CertsTest, SecondInitKeepsTheCaAndAddsNewNodes) {
  ASSERT_TRUE(InitCertificates(dir_, {"n1"}).ok());
  const std::string ca = Slurp(dir_ + "/ca.crt"), n1 = Slurp(dir_ + "/node-n1.crt");
  ASSERT_TRUE(InitCertificates(dir_, {"n1", "n3"}).ok());
  EXPECT_EQ(Slurp(dir_ + "/ca.crt"), ca);
  EXPECT_EQ(Slurp(dir_ + "/node-n1.crt"), n1);
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/node-n3.crt"));
}

TEST_F(CertsTest, LoadNeedsTheFiles) {
  EXPECT_FALSE(Security::Load(dir_, "").ok());
  ASSERT_TRUE(InitCertificates(dir_, {}).ok());
  auto s = Security::Load(dir_, "loomd");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_FALSE(s->insecure());
  EXPECT_FALSE(Security::Load(dir_, "node-nope").ok());
}

TEST(InsecureListenTest, OnlyLoopback) {
  EXPECT_TRUE(CheckInsecureListen(true, "127.0.0.1:0").ok());
  EXPECT_TRUE(CheckInsecureListen(true, "localhost:7817").ok());
  EXPECT_TRUE(CheckInsecureListen(true, "[::1]:7817").ok());
  EXPECT_FALSE(CheckInsecureListen(true, "0.0.0.0:7817").ok());
  EXPECT_FALSE(CheckInsecureListen(true, "10.0.0.5:7817").ok());
  EXPECT_FALSE(CheckInsecureListen(true, "[::]:7817").ok());
  EXPECT_TRUE(CheckInsecureListen(false, "0.0.0.0:7817").ok());
}

TEST(NodeNameTest, RefusesWhatCannotBeAPathOrHost) {
  EXPECT_TRUE(ValidateNodeName("node-1").ok());
  EXPECT_TRUE(ValidateNodeName("h100_0007.rack3").ok());
  for (const std::string& bad : std::vector<std::string>{"", "$(id)", "../../etc/passwd", "a b", "a,b", "-x", ".hidden",
                                std::string(100000, 'a'), "n=1", "n:1"}) {
    EXPECT_FALSE(ValidateNodeName(bad).ok()) << bad.substr(0, 20);
  }
}

}  // namespace
}  // namespace loom::tls
