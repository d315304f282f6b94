#include "scheduler/store/store.h"

#include <sqlite3.h>

namespace loom::store {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS jobs (
  id     INTEGER PRIMARY KEY,
  state  INTEGER NOT NULL,
  record BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state);
CREATE TABLE IF NOT EXISTS nodes (
  name   TEXT PRIMARY KEY,
  record BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
  seq     INTEGER PRIMARY KEY AUTOINCREMENT,
  time_ms INTEGER NOT NULL,
  job_id  INTEGER NOT NULL,
  node    TEXT NOT NULL,
  what    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_job ON events(job_id);
CREATE TABLE IF NOT EXISTS fair_share_usage (
  tenant   TEXT PRIMARY KEY,
  usage    REAL NOT NULL,
  as_of_ms INTEGER NOT NULL
);
)sql";

Status SqlError(sqlite3* db, const std::string& what) {
  return Internal("sqlite: " + what + ": " + sqlite3_errmsg(db));
}

// A prepared statement that finalizes itself.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Status status(const char* what) const {
    return rc_ == SQLITE_OK ? Status::Ok() : SqlError(db_, what);
  }
  sqlite3_stmt* get() { return stmt_; }
  void BindBlob(int i, const std::string& s) {
    sqlite3_bind_blob(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  void BindText(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  // Runs a statement that returns no rows, leaving it ready to bind again.
  Status Run(const char* what) {
    int rc = sqlite3_step(stmt_);
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    return rc == SQLITE_DONE ? Status::Ok() : SqlError(db_, what);
  }
  std::string ColumnBlob(int i) {
    const void* p = sqlite3_column_blob(stmt_, i);
    return p ? std::string(static_cast<const char*>(p), sqlite3_column_bytes(stmt_, i)) : "";
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

template <typename Message>
StatusOr<std::vector<Message>> LoadRecords(sqlite3* db, const char* sql, const char* what) {
  Stmt stmt(db, sql);
  LOOM_RETURN_IF_ERROR(stmt.status(what));
  std::vector<Message> out;
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    Message m;
    if (!m.ParseFromString(stmt.ColumnBlob(0))) {
      return Internal(std::string("sqlite: corrupt record in ") + what);
    }
    out.push_back(std::move(m));
  }
  if (rc != SQLITE_DONE) return SqlError(db, what);
  return out;
}

}  // namespace

StatusOr<std::unique_ptr<Store>> Store::Open(const std::string& path, StoreOptions options) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                           SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Unavailable("cannot open state database " + path + ": " + msg);
  }
  std::unique_ptr<Store> store(new Store(db));
  sqlite3_busy_timeout(db, 5000);
  LOOM_RETURN_IF_ERROR(store->Exec("PRAGMA journal_mode=WAL"));
  LOOM_RETURN_IF_ERROR(store->Exec(options.sync_full ? "PRAGMA synchronous=FULL"
                                                     : "PRAGMA synchronous=NORMAL"));
  LOOM_RETURN_IF_ERROR(store->Exec(kSchema));
  return store;
}

Store::~Store() { sqlite3_close(db_); }

Status Store::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Internal(std::string("sqlite: ") + msg);
  }
  return Status::Ok();
}

Status Store::Commit(const Batch& batch) {
  if (batch.empty()) return Status::Ok();
  LOOM_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  auto write = [&]() -> Status {
    Stmt job(db_, "INSERT OR REPLACE INTO jobs(id, state, record) VALUES(?, ?, ?)");
    LOOM_RETURN_IF_ERROR(job.status("prepare job write"));
    for (const v1::Job* j : batch.jobs) {
      sqlite3_bind_int64(job.get(), 1, j->id());
      sqlite3_bind_int(job.get(), 2, j->state());
      job.BindBlob(3, j->SerializeAsString());
      LOOM_RETURN_IF_ERROR(job.Run("write job"));
    }
    Stmt node(db_, "INSERT OR REPLACE INTO nodes(name, record) VALUES(?, ?)");
    LOOM_RETURN_IF_ERROR(node.status("prepare node write"));
    for (const v1::Node* n : batch.nodes) {
      node.BindText(1, n->name());
      node.BindBlob(2, n->SerializeAsString());
      LOOM_RETURN_IF_ERROR(node.Run("write node"));
    }
    Stmt event(db_, "INSERT INTO events(time_ms, job_id, node, what) VALUES(?, ?, ?, ?)");
    LOOM_RETURN_IF_ERROR(event.status("prepare event write"));
    for (const Event& e : batch.events) {
      sqlite3_bind_int64(event.get(), 1, e.time_ms);
      sqlite3_bind_int64(event.get(), 2, e.job_id);
      event.BindText(3, e.node);
      event.BindText(4, e.what);
      LOOM_RETURN_IF_ERROR(event.Run("write event"));
    }
    if (batch.fair_share_usage.empty()) return Status::Ok();
    Stmt usage(db_, "INSERT OR REPLACE INTO fair_share_usage(tenant, usage, as_of_ms) VALUES(?, ?, ?)");
    LOOM_RETURN_IF_ERROR(usage.status("prepare fair-share usage write"));
    for (const FairShareUsage& u : batch.fair_share_usage) {
      usage.BindText(1, u.tenant);
      sqlite3_bind_double(usage.get(), 2, u.gpu_ms);
      sqlite3_bind_int64(usage.get(), 3, u.as_of_ms);
      LOOM_RETURN_IF_ERROR(usage.Run("write fair-share usage"));
    }
    return Status::Ok();
  };
  Status s = write();
  if (!s.ok()) {
    (void)Exec("ROLLBACK");
    return s;
  }
  return Exec("COMMIT");
}

StatusOr<std::vector<v1::Job>> Store::LoadJobs() {
  return LoadRecords<v1::Job>(db_, "SELECT record FROM jobs ORDER BY id", "load jobs");
}

StatusOr<std::vector<v1::Node>> Store::LoadNodes() {
  return LoadRecords<v1::Node>(db_, "SELECT record FROM nodes ORDER BY name", "load nodes");
}

StatusOr<std::vector<Event>> Store::LoadEvents(int64_t job_id) {
  Stmt stmt(db_, "SELECT time_ms, node, what FROM events WHERE job_id = ? ORDER BY seq");
  LOOM_RETURN_IF_ERROR(stmt.status("load events"));
  sqlite3_bind_int64(stmt.get(), 1, job_id);
  std::vector<Event> out;
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    Event e;
    e.time_ms = sqlite3_column_int64(stmt.get(), 0);
    e.job_id = job_id;
    e.node = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 1));
    e.what = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 2));
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return SqlError(db_, "load events");
  return out;
}

StatusOr<int64_t> Store::MaxJobId() {
  Stmt stmt(db_, "SELECT COALESCE(MAX(id), 0) FROM jobs");
  LOOM_RETURN_IF_ERROR(stmt.status("max job id"));
  if (sqlite3_step(stmt.get()) != SQLITE_ROW) return SqlError(db_, "max job id");
  return static_cast<int64_t>(sqlite3_column_int64(stmt.get(), 0));
}

StatusOr<std::vector<FairShareUsage>> Store::LoadFairShareUsage() {
  Stmt stmt(db_, "SELECT tenant, usage, as_of_ms FROM fair_share_usage ORDER BY tenant");
  LOOM_RETURN_IF_ERROR(stmt.status("load fair-share usage"));
  std::vector<FairShareUsage> out;
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    FairShareUsage u;
    u.tenant = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 0));
    u.gpu_ms = sqlite3_column_double(stmt.get(), 1);
    u.as_of_ms = sqlite3_column_int64(stmt.get(), 2);
    out.push_back(std::move(u));
  }
  if (rc != SQLITE_DONE) return SqlError(db_, "load fair-share usage");
  return out;
}

}  // namespace loom::store
