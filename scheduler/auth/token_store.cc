#include "scheduler/auth/token_store.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

namespace loom::auth {
namespace {

constexpr size_t kMaxTenant = 64;

std::string Hex(const unsigned char* data, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 15];
  }
  return out;
}

// A prepared statement that finalizes itself.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  sqlite3_stmt* get() const { return s_; }
  bool ok() const { return s_ != nullptr; }

 private:
  sqlite3_stmt* s_ = nullptr;
};

TokenInfo RowToInfo(sqlite3_stmt* s) {
  TokenInfo t;
  t.id = sqlite3_column_int64(s, 0);
  t.tenant = reinterpret_cast<const char*>(sqlite3_column_text(s, 1));
  t.admin = sqlite3_column_int(s, 2) != 0;
  t.created_ms = sqlite3_column_int64(s, 3);
  t.expires_ms = sqlite3_column_int64(s, 4);
  t.revoked = sqlite3_column_int(s, 5) != 0;
  return t;
}

}  // namespace

std::string Sha256Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md, &n, EVP_sha256(), nullptr);
  return Hex(md, n);
}

Status ValidateTenant(const std::string& tenant) {
  if (tenant.empty() || tenant.size() > kMaxTenant) return InvalidArgument("tenant must be 1 to 64 characters");
  for (char c : tenant) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.';
    if (!ok) return InvalidArgument("tenant '" + tenant.substr(0, 40) + "' may hold only letters, digits, '-', '_' and '.'");
  }
  return Status::Ok();
}

StatusOr<std::unique_ptr<TokenStore>> TokenStore::Open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string why = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Internal("cannot open " + path + ": " + why);
  }
  sqlite3_busy_timeout(db, 5000);
  std::unique_ptr<TokenStore> store(new TokenStore(db));
  char* err = nullptr;
  const char* schema =
      "PRAGMA journal_mode=WAL;"
      "CREATE TABLE IF NOT EXISTS tokens (id INTEGER PRIMARY KEY AUTOINCREMENT, hash TEXT NOT NULL UNIQUE,"
      " tenant TEXT NOT NULL, admin INTEGER NOT NULL, created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL,"
      " revoked INTEGER NOT NULL DEFAULT 0)";
  if (sqlite3_exec(db, schema, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string why = err ? err : "?";
    sqlite3_free(err);
    return Internal("cannot create the token table in " + path + ": " + why);
  }
  return store;
}

TokenStore::~TokenStore() { sqlite3_close(db_); }

StatusOr<std::pair<TokenInfo, std::string>> TokenStore::Create(const std::string& tenant, bool admin,
                                                               int64_t now_ms, int64_t expires_ms) {
  LOOM_RETURN_IF_ERROR(ValidateTenant(tenant));
  if (expires_ms < 0) return InvalidArgument("a token's expiry must not be negative");
  unsigned char secret[32];
  if (RAND_bytes(secret, sizeof(secret)) != 1) return Internal("no randomness for a token");
  std::lock_guard<std::mutex> lock(mu_);
  // The id is part of the token, so the row is written first with a placeholder hash.
  Stmt insert(db_, "INSERT INTO tokens (hash, tenant, admin, created_ms, expires_ms) VALUES (?, ?, ?, ?, ?)");
  const std::string placeholder = "pending-" + Hex(secret, 8);
  sqlite3_bind_text(insert.get(), 1, placeholder.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(insert.get(), 2, tenant.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(insert.get(), 3, admin ? 1 : 0);
  sqlite3_bind_int64(insert.get(), 4, now_ms);
  sqlite3_bind_int64(insert.get(), 5, expires_ms);
  if (!insert.ok() || sqlite3_step(insert.get()) != SQLITE_DONE) {
    return Internal(std::string("cannot store a token: ") + sqlite3_errmsg(db_));
  }
  TokenInfo info{sqlite3_last_insert_rowid(db_), tenant, admin, now_ms, expires_ms, false};
  const std::string token = "loom_" + std::to_string(info.id) + "_" + Hex(secret, sizeof(secret));
  Stmt update(db_, "UPDATE tokens SET hash = ? WHERE id = ?");
  const std::string hash = Sha256Hex(token);
  sqlite3_bind_text(update.get(), 1, hash.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(update.get(), 2, info.id);
  if (!update.ok() || sqlite3_step(update.get()) != SQLITE_DONE) {
    return Internal(std::string("cannot store a token: ") + sqlite3_errmsg(db_));
  }
  return std::make_pair(info, token);
}

StatusOr<TokenInfo> TokenStore::Verify(const std::string& token, int64_t now_ms) {
  if (token.size() > 128 || token.rfind("loom_", 0) != 0) return Unauthenticated("not a Loom token");
  const std::string hash = Sha256Hex(token);
  std::lock_guard<std::mutex> lock(mu_);
  if (auto hit = verified_.find(hash); hit != verified_.end()) {
    if (hit->second.expires_ms > 0 && now_ms >= hit->second.expires_ms) {
      return Unauthenticated("token " + std::to_string(hit->second.id) + " has expired");
    }
    return hit->second;
  }
  Stmt q(db_, "SELECT id, tenant, admin, created_ms, expires_ms, revoked FROM tokens WHERE hash = ?");
  sqlite3_bind_text(q.get(), 1, hash.c_str(), -1, SQLITE_TRANSIENT);
  if (!q.ok() || sqlite3_step(q.get()) != SQLITE_ROW) return Unauthenticated("unknown token");
  TokenInfo t = RowToInfo(q.get());
  if (t.revoked) return Unauthenticated("token " + std::to_string(t.id) + " was revoked");
  if (t.expires_ms > 0 && now_ms >= t.expires_ms) return Unauthenticated("token " + std::to_string(t.id) + " has expired");
  if (verified_.size() >= 10000) verified_.clear();  // bounded; misses only cost a lookup
  verified_[hash] = t;
  return t;
}

std::vector<TokenInfo> TokenStore::List() {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt q(db_, "SELECT id, tenant, admin, created_ms, expires_ms, revoked FROM tokens ORDER BY id");
  std::vector<TokenInfo> out;
  while (q.ok() && sqlite3_step(q.get()) == SQLITE_ROW) out.push_back(RowToInfo(q.get()));
  return out;
}

Status TokenStore::Revoke(int64_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  Stmt u(db_, "UPDATE tokens SET revoked = 1 WHERE id = ?");
  sqlite3_bind_int64(u.get(), 1, id);
  if (!u.ok() || sqlite3_step(u.get()) != SQLITE_DONE) return Internal(std::string("cannot revoke: ") + sqlite3_errmsg(db_));
  if (sqlite3_changes(db_) == 0) return NotFound("no token " + std::to_string(id));
  std::erase_if(verified_, [&](const auto& entry) { return entry.second.id == id; });
  return Status::Ok();
}

}  // namespace loom::auth
