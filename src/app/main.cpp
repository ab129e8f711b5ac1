// The `aipassport` command.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#ifdef AIPASSPORT_WITH_MIMALLOC
#include <mimalloc.h>
#endif

#include "app/broker.hpp"
#include "app/clients.hpp"
#include "app/config.hpp"
#include "app/db_commands.hpp"
#include "app/failure.hpp"
#include "app/no_dumps.hpp"
#include "app/record_commands.hpp"
#include "app/users.hpp"
#include "app/vault_commands.hpp"

namespace {

// mimalloc gives freed memory back to the system soon after it was freed (25 ms in mimalloc 2.0,
// Debian 12's; 2.1 calls the option purge_delay, 10 ms), and takes it back with a page fault a
// page when it is used again. The broker frees and reuses the same memory every few hundred
// milliseconds under load (the batches of activity and usage rows; a wave of calls), so it kept
// giving back and faulting in: with a second's delay a call costs 6 us less CPU on this machine
// (bench/compare.sh BENCH_SETUP=unpinned), and idle memory still goes back within a second. Either
// variable in the environment has the last word.
void TuneAllocator() {
#ifdef AIPASSPORT_WITH_MIMALLOC
  if (!std::getenv("MIMALLOC_DECOMMIT_DELAY") && !std::getenv("MIMALLOC_PURGE_DELAY"))
    mi_option_set(mi_option_decommit_delay, 1000);
#endif
}

// --data-dir and --config, for the commands that work on a broker's data directory.
void AddDataDirOptions(CLI::App* command, ap::app::Flags& flags) {
  command->add_option("--data-dir", flags.data_dir, "The broker's data directory (default ./data)");
  command->add_option("--config", flags.config_file, "TOML config file")->check(CLI::ExistingFile);
}

// Exit codes: 0 done, 1 failed while running, 2 bad usage or configuration (a wrong data directory too).
using ap::app::kBadUsage;

// Loads the configuration and runs `run` with it. `use`, for commands other than serve, says what
// they need of the data directory.
template <class Run>
int WithLoadedConfig(const ap::app::Flags& flags, Run run, std::optional<ap::app::DataUse> use = std::nullopt) {
  auto config = ap::app::LoadConfig(flags, ap::app::ProcessEnvironment());
  if (!config) {
    std::fprintf(stderr, "aipassport: %s\n", config.error().message.c_str());
    return kBadUsage;
  }
  if (use)
    if (auto ok = ap::app::CheckDataDir(*config, *use); !ok) {
      std::fprintf(stderr, "aipassport: %s\n", ok.error().message.c_str());
      return kBadUsage;
    }
  return run(*config);
}

int WithConfig(const ap::app::Flags& flags, int (*run)(const ap::app::Config&),
               std::optional<ap::app::DataUse> use = std::nullopt) {
  return WithLoadedConfig(flags, run, use);
}

}  // namespace

int main(int argc, char** argv) {
  // AIPASSPORT_DEBUGGABLE=1 keeps it open to its user's debugger and profiler (bench/ sets it).
  if (!ap::app::ProcessEnvironment()("AIPASSPORT_DEBUGGABLE") && !ap::app::ForbidCoreDumps())
    std::fprintf(stderr, "warning: could not keep this process out of core dumps\n");
  TuneAllocator();
  CLI::App cli{"aipassport: give apps scoped, revocable access to your AI provider accounts"};
  cli.require_subcommand(1);
  cli.set_version_flag("--version", "aipassport 0.1.0");

  ap::app::Flags serve_flags;
  auto* serve = cli.add_subcommand("serve", "Run the broker");
  serve->add_option("--listen", serve_flags.listen, "HOST:PORT to listen on (default 127.0.0.1:8080)");
  serve->add_option("--data-dir", serve_flags.data_dir,
                    "Where the SQLite database, the master key and the node id live (default ./data)");
  serve->add_option("--config", serve_flags.config_file, "TOML config file")->check(CLI::ExistingFile);

  std::string mock_listen = "127.0.0.1:9000";
  ap::mock::MockOptions mock_options;
  auto* mock = cli.add_subcommand("mock-upstream", "Run the emulation of the OpenAI, Anthropic and Gemini APIs");
  mock->add_option("--listen", mock_listen, "HOST:PORT to listen on")->capture_default_str();
  const auto non_negative = CLI::Range(0, std::numeric_limits<int>::max());
  mock->add_option("--latency-ms", mock_options.latency_ms, "Delay before every answer")->check(non_negative);
  mock->add_option("--stream-chunks", mock_options.stream_chunks, "Pieces a streamed reply is cut into")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  mock->add_option("--stream-delay-ms", mock_options.stream_delay_ms, "Pause between streamed pieces")
      ->check(non_negative);
  mock->add_option("--stream-padding-bytes", mock_options.stream_padding_bytes,
                   "Send each piece of an event stream after a comment line of this many bytes")
      ->check(CLI::Range(0, 16 << 20));
  mock->add_option("--body-pause-ms", mock_options.body_pause_ms,
                   "Send whole answers' heads and half their bodies, then pause this long before the rest")
      ->check(non_negative);
  mock->add_option("--overload-after", mock_options.overload_after,
                   "End Anthropic streams with an overloaded_error event after this many text deltas")
      ->check(non_negative);
  mock->add_flag("--gemini-output-at-end", mock_options.gemini_output_at_end,
                 "Report Gemini streams' output tokens only in their last chunk, not as running totals");
  mock->add_option("--openai-key", mock_options.openai_key, "Key expected in Authorization: Bearer")
      ->capture_default_str();
  mock->add_option("--anthropic-key", mock_options.anthropic_key, "Key expected in x-api-key")->capture_default_str();
  mock->add_option("--google-key", mock_options.google_key, "Key expected in x-goog-api-key or ?key=")
      ->capture_default_str();
  mock->add_option("--accept-key", mock_options.accept_keys,
                   "A key every provider accepts, in place of the three above (repeatable)");
  mock->add_option("--project-service-tier", mock_options.project_service_tier,
                   "The OpenAI tier of calls that name none or 'auto', as a project may be configured")
      ->check(CLI::IsMember({"default", "flex", "scale", "priority"}))
      ->capture_default_str();
  mock->add_option("--overloaded-retry-after", mock_options.overloaded_retry_after,
                   "Answer every provider call as overloaded, with this Retry-After in seconds (0: none)")
      ->check(non_negative);
  mock->add_option("--workspace-inference-geo", mock_options.workspace_inference_geo,
                   "Where Anthropic calls that name no inference_geo run, as a workspace may be configured")
      ->check(CLI::IsMember({"global", "us"}))
      ->capture_default_str();

  ap::app::Flags admin_flags;
  bool reset = false;
  auto* admin = cli.add_subcommand("admin-token", "Manage the owner token");
  admin->add_flag("--reset", reset, "Make a new owner token; the old one stops working at once")->required();
  AddDataDirOptions(admin, admin_flags);

  ap::app::Flags user_flags;
  ap::app::UserCommand user_command;
  auto* user = cli.add_subcommand("user", "Manage the owner accounts that sign in to approve grants");
  user->require_subcommand(1);
  for (const char* action : {"add", "passwd", "remove"}) {
    std::string what = std::string(action) == "add"      ? "Add an owner (asks for a password)"
                       : std::string(action) == "passwd" ? "Change an owner's password; their sessions end"
                                                         : "Remove an owner; their sessions end";
    auto* c = user->add_subcommand(action, what);
    c->add_option("username", user_command.username, "The owner's name")->required();
    if (std::string(action) != "remove")
      c->add_flag("--password-stdin", user_command.password_stdin, "Read the password from the first line of stdin");
    AddDataDirOptions(c, user_flags);
    c->callback([&user_command, action] { user_command.action = action; });
  }
  auto* list = user->add_subcommand("list", "List the owners");
  AddDataDirOptions(list, user_flags);
  list->callback([&user_command] { user_command.action = "list"; });

  ap::app::Flags client_flags;
  ap::app::ClientCommand client_command;
  auto* client = cli.add_subcommand("client", "Manage the apps registered for OAuth");
  client->require_subcommand(1);
  auto* client_add = client->add_subcommand("add", "Register an app; prints its client_id (and secret)");
  client_add->add_option("name", client_command.name, "The app's name, shown on the consent screen")->required();
  client_add->add_option("--redirect-uri", client_command.redirect_uris, "An exact redirect URI (repeatable)")
      ->required();
  client_add->add_option("--home-url", client_command.home_url, "The app's home page");
  client_add->add_option("--logo-url", client_command.logo_url, "The app's logo");
  client_add->add_flag("--confidential", client_command.confidential, "A server-side app with a secret");
  client_add->add_flag("--dpop-required", client_command.dpop_required, "Only DPoP-bound tokens");
  client_add->add_flag("--device-grant", client_command.device_grant,
                       "It may start the device flow (an app on a device without a browser)");
  AddDataDirOptions(client_add, client_flags);
  client_add->callback([&client_command] { client_command.action = "add"; });
  auto* client_list = client->add_subcommand("list", "List the registered apps");
  AddDataDirOptions(client_list, client_flags);
  client_list->callback([&client_command] { client_command.action = "list"; });
  auto* client_edit =
      client->add_subcommand("edit", "Change an app's name, redirect URIs, home page, logo or device grant");
  client_edit->add_option("client_id", client_command.name, "The app's client_id")->required();
  client_edit->add_option("--name", client_command.new_name, "Its new name");
  client_edit->add_option("--redirect-uri", client_command.redirect_uris,
                          "An exact redirect URI (repeatable; the ones given replace them all)");
  auto* edit_home = client_edit->add_option("--home-url", client_command.home_url, "Its home page (empty: none)");
  auto* edit_logo = client_edit->add_option("--logo-url", client_command.logo_url, "Its logo (empty: none)");
  client_edit
      ->add_option("--device-grant", client_command.device_grant_change,
                   "on or off: whether it may start the device flow")
      ->check(CLI::IsMember({"on", "off"}));
  AddDataDirOptions(client_edit, client_flags);
  client_edit->callback([&client_command, edit_home, edit_logo] {
    client_command.action = "edit";
    client_command.home_url_given = edit_home->count() > 0;
    client_command.logo_url_given = edit_logo->count() > 0;
  });
  auto* client_remove = client->add_subcommand("remove", "Remove an app");
  client_remove->add_option("client_id", client_command.name, "The app's client_id")->required();
  AddDataDirOptions(client_remove, client_flags);
  client_remove->callback([&client_command] { client_command.action = "remove"; });

  ap::app::Flags keys_flags;
  auto* keys = cli.add_subcommand("keys", "Manage the token signing keys");
  keys->require_subcommand(1);
  auto* rotate = keys->add_subcommand("rotate-signing", "Add a signing key: published now, signing after a while");
  bool drop_older_keys = false;
  rotate->add_flag("--drop-older-keys", drop_older_keys,
                   "The older keys may have leaked: drop them, so the new key signs at once and every token they "
                   "signed is refused (apps ask for new ones)");
  AddDataDirOptions(rotate, keys_flags);

  ap::app::Flags vault_flags;
  ap::app::VaultCommand vault_command;
  auto* vault = cli.add_subcommand("vault", "Manage the owners' provider keys, sealed under the master key");
  vault->require_subcommand(1);
  auto* vault_add = vault->add_subcommand("add", "Add (or replace) an owner's provider key, read from stdin");
  vault_add->add_option("--owner", vault_command.owner, "The owner's username (operator: the environment's owner)")
      ->required();
  vault_add->add_option("--provider", vault_command.provider, "openai, anthropic, google or a declared upstream")
      ->required();
  vault_add->add_option("--label", vault_command.label, "The key's label, which grants bind to (default: default)");
  AddDataDirOptions(vault_add, vault_flags);
  vault_add->callback([&vault_command] { vault_command.action = "add"; });
  auto* vault_list = vault->add_subcommand("list", "List the keys (their hints only)");
  vault_list->add_option("--owner", vault_command.owner, "Only this owner's keys");
  AddDataDirOptions(vault_list, vault_flags);
  vault_list->callback([&vault_command] { vault_command.action = "list"; });
  auto* vault_remove = vault->add_subcommand("remove", "Remove a key; grants bound to it get key_missing");
  vault_remove->add_option("key_id", vault_command.key_id, "The key's id (see vault list)")->required();
  AddDataDirOptions(vault_remove, vault_flags);
  vault_remove->callback([&vault_command] { vault_command.action = "remove"; });
  auto* vault_rotate = vault->add_subcommand("rotate-master", "Re-wrap every key under a new master key");
  vault_rotate->add_option("--new-key-file", vault_command.new_key_file, "The new key (made there, 0600, if missing)")
      ->required();
  AddDataDirOptions(vault_rotate, vault_flags);
  vault_rotate->callback([&vault_command] { vault_command.action = "rotate-master"; });
  ap::app::Flags db_flags;
  auto* db = cli.add_subcommand("db", "The database (SQLite file or PostgreSQL)");
  db->require_subcommand(1);
  auto* db_migrate = db->add_subcommand("migrate", "Bring the database's schema up to this aipassport's");
  AddDataDirOptions(db_migrate, db_flags);
  std::string copy_from, copy_to;
  auto* db_copy = db->add_subcommand("copy", "Copy a deployment's database into an empty one (SQLite to PostgreSQL)");
  db_copy->add_option("--from", copy_from, "The database to copy: sqlite:///abs/path/aipassport.db")->required();
  db_copy->add_option("--to", copy_to,
                      "An empty database: postgresql://user@host:port/db (default: AIPASSPORT_DATABASE_URL, which "
                      "keeps a password out of the command line)");

  ap::app::Flags record_flags;
  ap::app::RecordCommand record_command;
  auto* activity = cli.add_subcommand("activity", "The record of proxied calls");
  auto* audit = cli.add_subcommand("audit", "The tamper-evident audit trail");
  for (auto* group : {activity, audit}) {
    group->require_subcommand(1);
    auto* exporter = group->add_subcommand(
        "export", group == audit ? "Print the audit records, oldest first" : "Print the calls, newest first");
    exporter->add_option("--format", record_command.format, "jsonl or csv")->capture_default_str();
    exporter->add_option("--from", record_command.from, "Only records at or after this ISO 8601 time");
    exporter->add_option("--to", record_command.to, "Only records before this ISO 8601 time");
    if (group == audit) exporter->add_option("--kind", record_command.kind, "Only records of this kind");
    auto* other = group == activity
                      ? group->add_subcommand("prune", "Delete the activity older than activity.retention_days")
                      : group->add_subcommand("verify", "Check the chain: exits 1 naming the first broken record");
    for (auto* c : {exporter, other}) {
      AddDataDirOptions(c, record_flags);
      c->callback([&record_command, group, c] {
        record_command.what = group->get_name();
        record_command.action = c->get_name();
      });
    }
  }

  try {
    cli.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return cli.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return cli.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return cli.exit(e);
  } catch (const CLI::ParseError& e) {
    cli.exit(e);
    return kBadUsage;
  }
  using ap::app::DataUse;
  if (serve->parsed()) return WithConfig(serve_flags, &ap::app::RunBroker);
  if (mock->parsed()) return ap::app::RunMockUpstream(mock_listen, mock_options);
  if (admin->parsed()) return WithConfig(admin_flags, &ap::app::ResetAdminToken, DataUse::kNeedsDatabase);
  if (db_copy->parsed())
    return ap::app::CopyDatabase(
        copy_from, copy_to.empty() ? ap::app::ProcessEnvironment()("AIPASSPORT_DATABASE_URL").value_or("") : copy_to,
        !copy_to.empty());
  if (db_migrate->parsed()) return WithConfig(db_flags, &ap::app::MigrateDatabase, DataUse::kNeedsDatabase);
  if (rotate->parsed())
    return WithLoadedConfig(
        keys_flags, [&](const ap::app::Config& c) { return ap::app::RotateSigningKey(c, drop_older_keys); },
        DataUse::kNeedsDatabase);
  if (client->parsed())
    return WithLoadedConfig(
        client_flags, [&](const ap::app::Config& c) { return ap::app::ManageClients(c, client_command); },
        client_command.action == "add" ? DataUse::kMayCreateDatabase : DataUse::kNeedsDatabase);
  if (vault->parsed())
    return WithLoadedConfig(
        vault_flags, [&](const ap::app::Config& c) { return ap::app::ManageVault(c, vault_command); },
        DataUse::kNeedsDatabase);
  if (activity->parsed() || audit->parsed())
    return WithLoadedConfig(
        record_flags, [&](const ap::app::Config& c) { return ap::app::RunRecordCommand(c, record_command); },
        DataUse::kNeedsDatabase);
  if (user->parsed())
    return WithLoadedConfig(
        user_flags, [&](const ap::app::Config& c) { return ap::app::ManageUsers(c, user_command); },
        user_command.action == "add" ? DataUse::kMayCreateDatabase : DataUse::kNeedsDatabase);
  return 0;
}
