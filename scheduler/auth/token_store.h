// TokenStore: users' bearer tokens, kept hashed (SHA-256) in their own SQLite file in loomd's
// home (tokens.db), apart from the job store. loomd checks every user call against it; `loomd
// token create` on the head node writes it directly (local access to the file is the root of
// trust). Verified tokens are remembered in memory (loomd checks one on every call): a second
// process can only add tokens, and revocation goes through this object, which forgets them.
//
// A token is "loom_<id>_<64 hex digits of randomness>"; only its hash is stored, so the file
// alone does not give anyone a usable token. Thread-safe.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/status.h"

namespace loom::auth {

struct TokenInfo {
  int64_t id = 0;
  std::string tenant;
  bool admin = false;
  int64_t created_ms = 0;
  int64_t expires_ms = 0;  // 0: never
  bool revoked = false;
};

class TokenStore {
 public:
  static StatusOr<std::unique_ptr<TokenStore>> Open(const std::string& path);
  ~TokenStore();

  // A new token for `tenant` (1..64 of [A-Za-z0-9._-]); the secret is returned once, never stored.
  // `expires_ms` 0: never.
  StatusOr<std::pair<TokenInfo, std::string>> Create(const std::string& tenant, bool admin, int64_t now_ms,
                                                     int64_t expires_ms);
  // Who holds `token`: UNAUTHENTICATED if unknown, revoked or expired at `now_ms`.
  StatusOr<TokenInfo> Verify(const std::string& token, int64_t now_ms);
  std::vector<TokenInfo> List();
  // NOT_FOUND for an unknown id; revoking twice is OK.
  Status Revoke(int64_t id);

 private:
  explicit TokenStore(sqlite3* db) : db_(db) {}
  sqlite3* const db_;
  std::mutex mu_;
  std::unordered_map<std::string, TokenInfo> verified_;  // GUARDED_BY(mu_): by hash
};

// loomd's token file in its home.
inline std::string TokensFile(const std::string& home) { return home + "/tokens.db"; }

// SHA-256 of `data`, in hex.
std::string Sha256Hex(const std::string& data);
// The tenant naming rule (tokens, job specs).
Status ValidateTenant(const std::string& tenant);

}  // namespace loom::auth
