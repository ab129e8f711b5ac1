#include "app/config.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <map>

namespace ap::app {
namespace {

Environment FakeEnv(std::map<std::string, std::string> vars) {
  return [vars](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

// One file per test process, rewritten by each WriteToml and removed when the process exits.
struct TomlFile {
  std::string path = "/tmp/ap-config-test-" + std::to_string(::getpid()) + ".toml";
  ~TomlFile() { std::remove(path.c_str()); }
};

std::string WriteToml(const std::string& text) {
  static TomlFile file;
  std::ofstream(file.path) << text;
  return file.path;
}

TEST(Config, AFileOpenToEveryUserThatHoldsTheDatabasePasswordIsNoted) {
  Flags flags;
  flags.config_file = WriteToml("database_url = \"postgresql://ap:s3cret@db/ap\"\n");
  ::chmod(flags.config_file->c_str(), 0644);
  EXPECT_EQ(LoadConfig(flags, FakeEnv({})).value().password_file_open_to_all, *flags.config_file);
  ::chmod(flags.config_file->c_str(), 0640);
  EXPECT_EQ(LoadConfig(flags, FakeEnv({})).value().password_file_open_to_all, "");
  flags.config_file = WriteToml("database_url = \"postgresql://ap@db/ap\"\n");
  ::chmod(flags.config_file->c_str(), 0644);
  EXPECT_EQ(LoadConfig(flags, FakeEnv({})).value().password_file_open_to_all, "") << "no password in it";
}

TEST(Config, DefaultsPointAtTheRealProviders) {
  auto c = LoadConfig({}, FakeEnv({})).value();
  EXPECT_EQ(c.listen, "127.0.0.1:8080");
  EXPECT_EQ(c.data_dir, "./data");
  EXPECT_EQ(c.token_ttl_seconds, 3600);
  EXPECT_EQ(c.base_urls[0], "https://api.openai.com");
  EXPECT_EQ(c.base_urls[1], "https://api.anthropic.com");
  EXPECT_EQ(c.base_urls[2], "https://generativelanguage.googleapis.com");
}

TEST(Config, TheVaultsMasterKeyAndSharing) {
  auto defaults = LoadConfig({std::nullopt, std::string("/srv/ap"), std::nullopt}, FakeEnv({})).value();
  EXPECT_EQ(defaults.master_key_file, "/srv/ap/master.key");
  EXPECT_EQ(defaults.master_key_base64, std::nullopt);
  EXPECT_TRUE(defaults.share_environment_keys_with.empty());

  auto env = LoadConfig({}, FakeEnv({{"AIPASSPORT_MASTER_KEY", "c2VjcmV0"},
                                     {"AIPASSPORT_SHARE_ENVIRONMENT_KEYS_WITH", "alice, bob"}}))
                 .value();
  EXPECT_EQ(env.master_key_base64, std::optional<std::string>("c2VjcmV0"));
  EXPECT_EQ(env.share_environment_keys_with, (std::vector<std::string>{"alice", "bob"}));

  std::string file = WriteToml("[vault]\nmaster_key_file = \"/keys/m.key\"\nshare_environment_keys_with = [\"carol\"]\n");
  auto from_file = LoadConfig({std::nullopt, std::nullopt, file}, FakeEnv({})).value();
  EXPECT_EQ(from_file.master_key_file, "/keys/m.key");
  EXPECT_EQ(from_file.share_environment_keys_with, std::vector<std::string>{"carol"});
  std::string everyone = WriteToml("[vault]\nshare_environment_keys_with = \"*\"\n");
  EXPECT_EQ(LoadConfig({std::nullopt, std::nullopt, everyone}, FakeEnv({})).value().share_environment_keys_with,
            std::vector<std::string>{"*"});
  auto empty_name = LoadConfig({}, FakeEnv({{"AIPASSPORT_SHARE_ENVIRONMENT_KEYS_WITH", "alice,,bob"}}));
  ASSERT_FALSE(empty_name);
  EXPECT_NE(empty_name.error().message.find("user names separated by commas"), std::string::npos);
}

TEST(Config, FlagsBeatTheFileWhichBeatsTheEnvironment) {
  std::string file = WriteToml(
      "listen = \"127.0.0.1:7000\"\ntoken_ttl_seconds = 60\n[providers.openai]\nbase_url = "
      "\"http://127.0.0.1:9001\"\n");
  auto env = FakeEnv({{"AIPASSPORT_LISTEN", "127.0.0.1:6000"},
                      {"AIPASSPORT_TOKEN_TTL_SECONDS", "30"},
                      {"AIPASSPORT_ANTHROPIC_BASE_URL", "http://127.0.0.1:9002"},
                      {"AIPASSPORT_OPENAI_BASE_URL", "http://127.0.0.1:9003"}});
  Flags flags;
  flags.config_file = file;
  auto c = LoadConfig(flags, env).value();
  EXPECT_EQ(c.listen, "127.0.0.1:7000");
  EXPECT_EQ(c.token_ttl_seconds, 60);
  EXPECT_EQ(c.base_urls[0], "http://127.0.0.1:9001");
  EXPECT_EQ(c.base_urls[1], "http://127.0.0.1:9002");
  flags.listen = "127.0.0.1:5000";
  EXPECT_EQ(LoadConfig(flags, env)->listen, "127.0.0.1:5000");
  std::remove(file.c_str());
}

TEST(Config, ReadsTheReferencesTtlVariable) {
  EXPECT_EQ(LoadConfig({}, FakeEnv({{"TOKEN_TTL_SECONDS", "120"}}))->token_ttl_seconds, 120);
}

TEST(Config, RefusesBadValuesWithTheirSource) {
  auto bad_ttl = LoadConfig({}, FakeEnv({{"AIPASSPORT_TOKEN_TTL_SECONDS", "soon"}}));
  ASSERT_FALSE(bad_ttl);
  EXPECT_NE(bad_ttl.error().message.find("AIPASSPORT_TOKEN_TTL_SECONDS"), std::string::npos);
  // A timeout beyond a day would overflow the clock's arithmetic: refused, saying the bound.
  auto long_timeout = LoadConfig({}, FakeEnv({{"AIPASSPORT_CLIENT_TIMEOUT_SECONDS", "10000000000"}}));
  ASSERT_FALSE(long_timeout);
  EXPECT_EQ(long_timeout.error().message,
            "AIPASSPORT_CLIENT_TIMEOUT_SECONDS must be a positive whole number up to 86400, not '10000000000'");
  EXPECT_FALSE(LoadConfig({}, FakeEnv({{"AIPASSPORT_TOKEN_TTL_SECONDS", "100000000"}})));
  EXPECT_TRUE(LoadConfig({}, FakeEnv({{"AIPASSPORT_UPSTREAM_TIMEOUT_SECONDS", "86400"}})));
  // A retention meant as "for ever" would overflow the pruning's arithmetic, and wrap to delete all.
  auto forever = LoadConfig({}, FakeEnv({{"AIPASSPORT_ACTIVITY_RETENTION_DAYS", "9000000000000000"}}));
  ASSERT_FALSE(forever);
  EXPECT_EQ(forever.error().message,
            "AIPASSPORT_ACTIVITY_RETENTION_DAYS must be a positive whole number up to 36500, "
            "not '9000000000000000'");
  EXPECT_EQ(LoadConfig({}, FakeEnv({{"AIPASSPORT_ACTIVITY_RETENTION_DAYS", "36500"}}))->activity_retention_days, 36500);
  auto bad_url = LoadConfig({}, FakeEnv({{"AIPASSPORT_GOOGLE_BASE_URL", "ftp://x"}}));
  ASSERT_FALSE(bad_url);
  EXPECT_NE(bad_url.error().message.find("AIPASSPORT_GOOGLE_BASE_URL"), std::string::npos);
  Flags flags;
  flags.config_file = WriteToml("lissten = \"127.0.0.1:1\"\n");
  auto typo = LoadConfig(flags, FakeEnv({}));
  ASSERT_FALSE(typo);
  EXPECT_NE(typo.error().message.find("unknown setting 'lissten'"), std::string::npos);
  // A quoted key with a dot spells a setting's path, but no setting reads it: refused, not ignored.
  flags.config_file = WriteToml("\"database.pool_size\" = 999\n");
  auto quoted = LoadConfig(flags, FakeEnv({}));
  ASSERT_FALSE(quoted);
  EXPECT_NE(quoted.error().message.find("has a dot inside its quotes"), std::string::npos) << quoted.error().message;
  flags.config_file = WriteToml("listen = [\n");
  EXPECT_FALSE(LoadConfig(flags, FakeEnv({})));
  std::remove(flags.config_file->c_str());
}

TEST(Config, TheDatabaseAndThePublicUrl) {
  auto defaults = LoadConfig({}, FakeEnv({})).value();
  EXPECT_EQ(defaults.database_url, "");
  EXPECT_EQ(defaults.public_url, "");
  auto env = LoadConfig({}, FakeEnv({{"AIPASSPORT_DATABASE_URL", "postgresql://ap:pw@db/ap"},
                                     {"AIPASSPORT_PUBLIC_URL", "https://ai.example.com/"}}))
                 .value();
  EXPECT_EQ(env.database_url, "postgresql://ap:pw@db/ap");
  EXPECT_EQ(env.public_url, "https://ai.example.com");
  std::string file = WriteToml("database_url = \"sqlite:///srv/ap/broker.db\"\npublic_url = \"http://127.0.0.1:8080\"\n");
  auto from_file = LoadConfig({std::nullopt, std::nullopt, file}, FakeEnv({})).value();
  EXPECT_EQ(from_file.database_url, "sqlite:///srv/ap/broker.db");
  EXPECT_EQ(from_file.public_url, "http://127.0.0.1:8080");

  auto bad_db = LoadConfig({}, FakeEnv({{"AIPASSPORT_DATABASE_URL", "mysql://root:hunter2@db/ap"}}));
  ASSERT_FALSE(bad_db);
  EXPECT_NE(bad_db.error().message.find("AIPASSPORT_DATABASE_URL"), std::string::npos);
  EXPECT_EQ(bad_db.error().message.find("hunter2"), std::string::npos);
  EXPECT_EQ(defaults.node_timeout_seconds, 30);
  EXPECT_EQ(LoadConfig({}, FakeEnv({{"AIPASSPORT_NODE_TIMEOUT_SECONDS", "3"}})).value().node_timeout_seconds, 3);
  EXPECT_EQ(defaults.client_timeout_seconds, 30);
  EXPECT_EQ(LoadConfig({}, FakeEnv({{"AIPASSPORT_CLIENT_TIMEOUT_SECONDS", "2"}})).value().client_timeout_seconds, 2);
  EXPECT_FALSE(LoadConfig({}, FakeEnv({{"AIPASSPORT_CLIENT_TIMEOUT_SECONDS", "0"}})));
  EXPECT_EQ(defaults.database_pool_size, 8);
  EXPECT_EQ(LoadConfig({}, FakeEnv({{"AIPASSPORT_DATABASE_POOL_SIZE", "1"}})).value().database_pool_size, 1);
  for (const char* bad : {"0", "65", "-1", "eight"}) {
    auto refused = LoadConfig({}, FakeEnv({{"AIPASSPORT_DATABASE_POOL_SIZE", bad}}));
    ASSERT_FALSE(refused) << bad;
    EXPECT_NE(refused.error().message.find("AIPASSPORT_DATABASE_POOL_SIZE"), std::string::npos) << refused.error().message;
  }
  // As many I/O threads as keep their own upstream connections (http::HttpClient::kPoolThreads).
  EXPECT_EQ(LoadConfig({}, FakeEnv({{"AIPASSPORT_IO_THREADS", "256"}})).value().io_threads, 256u);
  for (const char* bad : {"0", "257", "-1", "many"}) {
    auto refused = LoadConfig({}, FakeEnv({{"AIPASSPORT_IO_THREADS", bad}}));
    ASSERT_FALSE(refused) << bad;
    EXPECT_NE(refused.error().message.find("AIPASSPORT_IO_THREADS"), std::string::npos) << refused.error().message;
  }
  for (const char* bad : {"2", "0", "3601", "soon"}) {
    auto refused = LoadConfig({}, FakeEnv({{"AIPASSPORT_NODE_TIMEOUT_SECONDS", bad}}));
    ASSERT_FALSE(refused) << bad;
    EXPECT_NE(refused.error().message.find("AIPASSPORT_NODE_TIMEOUT_SECONDS"), std::string::npos);
  }
  for (const char* bad : {"https://ai.example.com/broker", "ftp://ai.example.com", "https://ai.example.com/?x=1"}) {
    auto refused = LoadConfig({}, FakeEnv({{"AIPASSPORT_PUBLIC_URL", bad}}));
    ASSERT_FALSE(refused) << bad;
    EXPECT_NE(refused.error().message.find("AIPASSPORT_PUBLIC_URL"), std::string::npos);
  }
}

TEST(Config, ParsesListenAddresses) {
  EXPECT_EQ(ParseListen("127.0.0.1:8080")->port, 8080);
  EXPECT_EQ(ParseListen("[::1]:0")->host, "::1");
  EXPECT_EQ(ParseListen("localhost:1")->host, "127.0.0.1");
  EXPECT_FALSE(ParseListen("8080"));
  EXPECT_FALSE(ParseListen("host:99999"));
  EXPECT_FALSE(ParseListen("host:"));
}

TEST(Config, DeclaresOpenAICompatibleUpstreamsWithKeysFromTheEnvironment) {
  std::string file = WriteToml(
      "[[openai_compatible]]\nname = \"groq\"\nbase_url = \"https://api.groq.com/openai\"\napi_key_env = \"GROQ_KEY\"\n"
      "[[openai_compatible]]\nname = \"ollama\"\nbase_url = \"http://127.0.0.1:11434\"\n");
  Flags flags;
  flags.config_file = file;
  auto c = LoadConfig(flags, FakeEnv({{"GROQ_KEY", "gsk-secret"}})).value();
  ASSERT_EQ(c.compatible_upstreams.size(), 2u);
  EXPECT_EQ(c.compatible_upstreams[0].name, "groq");
  EXPECT_EQ(c.compatible_upstreams[0].base_url, "https://api.groq.com/openai");
  EXPECT_EQ(c.compatible_upstreams[0].api_key, "gsk-secret");
  EXPECT_EQ(c.compatible_upstreams[1].name, "ollama");
  EXPECT_EQ(c.compatible_upstreams[1].api_key, "");
}

TEST(Config, RefusesBadOpenAICompatibleUpstreams) {
  auto load = [](const std::string& entry) {
    Flags flags;
    flags.config_file = WriteToml("[[openai_compatible]]\n" + entry);
    return LoadConfig(flags, FakeEnv({}));
  };
  auto fails_with = [&](const std::string& entry, std::string_view words) {
    auto c = load(entry);
    ASSERT_FALSE(c) << entry;
    EXPECT_NE(c.error().message.find(words), std::string::npos) << c.error().message;
  };
  fails_with("name = \"openai\"\nbase_url = \"http://x\"\n", "taken by the broker");
  fails_with("name = \"Bad Name\"\nbase_url = \"http://x\"\n", "lowercase");
  fails_with("name = \"x\"\nbase_url = \"ftp://x\"\n", "'x'");
  fails_with("name = \"x\"\nbase_url = \"http://x\"\napi_key_env = \"\"\n", "must name a variable");
  for (const char* own : {"AIPASSPORT_MASTER_KEY", "AIPASSPORT_ADMIN_TOKEN", "AIPASSPORT_DATABASE_URL"})
    fails_with("name = \"x\"\nbase_url = \"http://x\"\napi_key_env = \"" + std::string(own) + "\"\n",
               "names one of the broker's own settings");
  // An unset key variable fails serve alone: other commands need no provider key.
  auto unset = load("name = \"x\"\nbase_url = \"http://x\"\napi_key_env = \"UNSET_VAR\"\n");
  ASSERT_TRUE(unset) << unset.error().message;
  auto serve = CheckUpstreamKeys(*unset);
  ASSERT_FALSE(serve);
  EXPECT_NE(serve.error().message.find("'UNSET_VAR') is not set"), std::string::npos) << serve.error().message;
  fails_with("name = \"x\"\nbase_url = \"http://x\"\napi_key = \"sk-inline\"\n", "unknown setting 'api_key'");
  fails_with("name = \"x\"\nbase_url = \"http://x\"\n[[openai_compatible]]\nname = \"x\"\nbase_url = \"http://y\"\n",
             "declared twice");
  for (const char* extra : {"\"top_k\"", "[\"Top_K\"]", "[\"\"]", "[\"a b\"]", "[1]", "[\"top_k\\\\u0020\"]"})
    fails_with(std::string("name = \"x\"\nbase_url = \"http://x\"\nextra_members = ") + extra + "\n",
               "extra_members must be a list");
  auto listed = load("name = \"x\"\nbase_url = \"http://x\"\nextra_members = [\"top_k\", \"min_p\"]\n");
  ASSERT_TRUE(listed) << listed.error().message;
  EXPECT_EQ(listed->compatible_upstreams[0].extra_members, (std::vector<std::string>{"top_k", "min_p"}));
}

TEST(Config, PlainHttpOnlyOnLoopbackAndHttpsNeedsBothFiles) {
  EXPECT_TRUE(LoadConfig({}, FakeEnv({{"AIPASSPORT_LISTEN", "[::1]:8080"}})));
  auto open = LoadConfig({}, FakeEnv({{"AIPASSPORT_LISTEN", "0.0.0.0:8080"}}));
  ASSERT_FALSE(open);
  EXPECT_NE(open.error().message.find("only served on loopback"), std::string::npos);
  auto https = LoadConfig({}, FakeEnv({{"AIPASSPORT_LISTEN", "0.0.0.0:8443"},
                                       {"AIPASSPORT_TLS_CERT_FILE", "/etc/aipassport/cert.pem"},
                                       {"AIPASSPORT_TLS_KEY_FILE", "/etc/aipassport/key.pem"}}));
  ASSERT_TRUE(https);
  EXPECT_EQ(https->tls_key_file, "/etc/aipassport/key.pem");
  auto half = LoadConfig({}, FakeEnv({{"AIPASSPORT_TLS_CERT_FILE", "/etc/aipassport/cert.pem"}}));
  ASSERT_FALSE(half);
  EXPECT_NE(half.error().message.find("both"), std::string::npos);
}

TEST(Config, DynamicRegistrationIsOffUnlessTheOwnerTurnsItOn) {
  EXPECT_FALSE(LoadConfig({}, FakeEnv({})).value().dynamic_registration);
  EXPECT_TRUE(
      LoadConfig({}, FakeEnv({{"AIPASSPORT_OAUTH_DYNAMIC_REGISTRATION", "true"}})).value().dynamic_registration);
  Flags flags;
  flags.config_file = WriteToml("[oauth]\ndynamic_registration = true\n");
  EXPECT_TRUE(LoadConfig(flags, FakeEnv({})).value().dynamic_registration);
  EXPECT_FALSE(LoadConfig({}, FakeEnv({{"AIPASSPORT_OAUTH_DYNAMIC_REGISTRATION", "yes please"}})));
}

TEST(Config, ClientMetadataDocumentsAreAcceptedFromPublicAddressesByDefault) {
  auto defaults = LoadConfig({}, FakeEnv({})).value();
  EXPECT_EQ(defaults.client_metadata_mode, "any");
  EXPECT_TRUE(defaults.client_metadata_hosts.empty());
  EXPECT_FALSE(defaults.client_metadata_allow_private);
  auto env = LoadConfig({}, FakeEnv({{"AIPASSPORT_CLIENT_METADATA_MODE", "allow_list"},
                                     {"AIPASSPORT_CLIENT_METADATA_HOSTS", "apps.example, notes.example"},
                                     {"AIPASSPORT_CLIENT_METADATA_ALLOW_PRIVATE", "true"}}))
                 .value();
  EXPECT_EQ(env.client_metadata_mode, "allow_list");
  EXPECT_EQ(env.client_metadata_hosts, (std::vector<std::string>{"apps.example", "notes.example"}));
  EXPECT_TRUE(env.client_metadata_allow_private);
  Flags flags;
  flags.config_file = WriteToml(
      "[oauth.client_metadata]\nmode = \"allow_list\"\nhosts = [\"10.0.0.7\", \"apps.example\"]\n"
      "allow_private_addresses = true\n");
  auto file = LoadConfig(flags, FakeEnv({})).value();
  EXPECT_EQ(file.client_metadata_hosts, (std::vector<std::string>{"10.0.0.7", "apps.example"}));
  EXPECT_TRUE(file.client_metadata_allow_private);
  flags.config_file = WriteToml("[oauth.client_metadata]\nmode = \"off\"\n");
  EXPECT_EQ(LoadConfig(flags, FakeEnv({})).value().client_metadata_mode, "off");
}

TEST(Config, RefusesClientMetadataSettingsThatCannotMeanWhatWasMeant) {
  auto refused = [](std::map<std::string, std::string> vars, std::string_view says) {
    auto c = LoadConfig({}, FakeEnv(std::move(vars)));
    ASSERT_FALSE(c) << says;
    EXPECT_NE(c.error().message.find(says), std::string::npos) << c.error().message;
  };
  refused({{"AIPASSPORT_CLIENT_METADATA_MODE", "all"}}, "must be \"any\", \"allow_list\" or \"off\"");
  refused({{"AIPASSPORT_CLIENT_METADATA_MODE", "allow_list"}}, "no host is listed");
  refused({{"AIPASSPORT_CLIENT_METADATA_HOSTS", "apps.example"}}, "only used with oauth.client_metadata.mode");
  refused({{"AIPASSPORT_CLIENT_METADATA_MODE", "allow_list"}, {"AIPASSPORT_CLIENT_METADATA_HOSTS", "Apps.example"}},
          "host names in lowercase");
  refused({{"AIPASSPORT_CLIENT_METADATA_MODE", "allow_list"}, {"AIPASSPORT_CLIENT_METADATA_HOSTS", "a.example,,b"}},
          "host names in lowercase");
  refused({{"AIPASSPORT_CLIENT_METADATA_MODE", "allow_list"},
           {"AIPASSPORT_CLIENT_METADATA_HOSTS", "https://apps.example/"}},
          "host names in lowercase");
  refused({{"AIPASSPORT_CLIENT_METADATA_ALLOW_PRIVATE", "yes"}}, "must be true or false");
  Flags flags;
  flags.config_file = WriteToml("[oauth.client_metadata]\nallowed_hosts = [\"apps.example\"]\n");
  auto typo = LoadConfig(flags, FakeEnv({}));
  ASSERT_FALSE(typo);
  EXPECT_NE(typo.error().message.find("unknown setting 'oauth.client_metadata.allowed_hosts'"), std::string::npos);
}

TEST(Config, MetricsAndLogFormatAreOffOrTextByDefault) {
  auto c = LoadConfig({}, FakeEnv({})).value();
  EXPECT_TRUE(c.metrics_listen.empty());
  EXPECT_FALSE(c.metrics_per_app_labels);
  EXPECT_FALSE(c.log_json);
  std::string file = WriteToml("log_format = \"json\"\n[metrics]\nlisten = \"127.0.0.1:0\"\nper_app_labels = true\n");
  Flags flags;
  flags.config_file = file;
  c = LoadConfig(flags, FakeEnv({})).value();
  EXPECT_EQ(c.metrics_listen, "127.0.0.1:0");
  EXPECT_TRUE(c.metrics_per_app_labels);
  EXPECT_TRUE(c.log_json);
  std::remove(file.c_str());
  EXPECT_EQ(LoadConfig({}, FakeEnv({{"AIPASSPORT_METRICS_LISTEN", "127.0.0.1:9464"}}))->metrics_listen, "127.0.0.1:9464");
  auto bad = LoadConfig({}, FakeEnv({{"AIPASSPORT_LOG_FORMAT", "xml"}}));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("AIPASSPORT_LOG_FORMAT"), std::string::npos);
  EXPECT_FALSE(LoadConfig({}, FakeEnv({{"AIPASSPORT_METRICS_LISTEN", "nowhere"}})));
}

TEST(Config, MetricsOffLoopbackAreRefusedUnlessAllowed) {
  for (const char* address : {"0.0.0.0:9464", "192.0.2.7:9464", "[::]:9464", "metrics.example:9464"}) {
    auto refused = LoadConfig({}, FakeEnv({{"AIPASSPORT_METRICS_LISTEN", address}}));
    ASSERT_FALSE(refused) << address;
    EXPECT_NE(refused.error().message.find("metrics.listen"), std::string::npos) << refused.error().message;
    EXPECT_NE(refused.error().message.find("metrics.allow_remote = true"), std::string::npos);
  }
  for (const char* address : {"127.0.0.1:9464", "localhost:9464", "[::1]:9464", "127.0.0.2:0"})
    EXPECT_TRUE(LoadConfig({}, FakeEnv({{"AIPASSPORT_METRICS_LISTEN", address}}))) << address;
  auto allowed =
      LoadConfig({}, FakeEnv({{"AIPASSPORT_METRICS_LISTEN", "0.0.0.0:9464"}, {"AIPASSPORT_METRICS_ALLOW_REMOTE", "true"}}));
  ASSERT_TRUE(allowed) << allowed.error().message;
  EXPECT_EQ(allowed->metrics_listen, "0.0.0.0:9464");
  std::string file = WriteToml("[metrics]\nlisten = \"0.0.0.0:9464\"\nallow_remote = true\n");
  Flags flags;
  flags.config_file = file;
  EXPECT_TRUE(LoadConfig(flags, FakeEnv({})));
  std::remove(file.c_str());
}

TEST(Config, ASyntaxErrorNamesItsLineAndColumn) {
  std::string file = WriteToml("listen = \"127.0.0.1:8080\"\n\ntoken_ttl_seconds = = 5\n");
  Flags flags;
  flags.config_file = file;
  auto bad = LoadConfig(flags, FakeEnv({}));
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("line 3, column"), std::string::npos) << bad.error().message;
  std::remove(file.c_str());
}

}  // namespace
}  // namespace ap::app
