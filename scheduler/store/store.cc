#include "scheduler/store/store.h"

#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <utility>

namespace loom::store {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS jobs (
  id        INTEGER PRIMARY KEY,
  state     INTEGER NOT NULL,
  record    BLOB NOT NULL,
  tenant    TEXT,
  name      TEXT,
  submit_ms INTEGER,
  end_ms    INTEGER
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
CREATE TABLE IF NOT EXISTS usage (
  bucket_ms        INTEGER PRIMARY KEY,
  length_ms        INTEGER NOT NULL,
  gpu_up_s         REAL NOT NULL,
  gpu_allocated_s  REAL NOT NULL,
  gpu_busy_s       REAL NOT NULL,
  gpu_fragmented_s REAL NOT NULL,
  peak_flop        REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS steps (
  job_id         INTEGER NOT NULL,
  run            INTEGER NOT NULL,
  bucket_ms      INTEGER NOT NULL,
  steps          INTEGER NOT NULL,
  step_s         REAL NOT NULL,
  compute_s      REAL NOT NULL,
  exposed_comm_s REAL NOT NULL,
  model_flops    REAL NOT NULL,
  PRIMARY KEY (job_id, run, bucket_ms)
);
CREATE INDEX IF NOT EXISTS steps_by_bucket ON steps(bucket_ms);
CREATE TABLE IF NOT EXISTS fair_share_usage (
  tenant   TEXT PRIMARY KEY,
  usage    REAL NOT NULL,
  as_of_ms INTEGER NOT NULL
);
)sql";

// The history's filter columns (`loom history`): a database from before them gains them, and
// its rows are filled in from their records (HistoryColumns), before these indexes are made.
constexpr const char* kHistoryColumns[] = {"tenant TEXT", "name TEXT", "submit_ms INTEGER", "end_ms INTEGER"};
constexpr const char* kHistoryIndexes = R"sql(
CREATE INDEX IF NOT EXISTS jobs_by_tenant ON jobs(tenant, id);
CREATE INDEX IF NOT EXISTS jobs_by_end ON jobs(end_ms);
)sql";

// Adds a bucket to the one already stored for the same key, if any.
constexpr const char* kAddUsage = R"sql(
INSERT INTO usage(bucket_ms, length_ms, gpu_up_s, gpu_allocated_s, gpu_busy_s, gpu_fragmented_s,
                  peak_flop) VALUES(?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(bucket_ms) DO UPDATE SET
  length_ms = MAX(length_ms, excluded.length_ms),
  gpu_up_s = gpu_up_s + excluded.gpu_up_s,
  gpu_allocated_s = gpu_allocated_s + excluded.gpu_allocated_s,
  gpu_busy_s = gpu_busy_s + excluded.gpu_busy_s,
  gpu_fragmented_s = gpu_fragmented_s + excluded.gpu_fragmented_s,
  peak_flop = peak_flop + excluded.peak_flop
)sql";
constexpr const char* kAddSteps = R"sql(
INSERT INTO steps(job_id, run, bucket_ms, steps, step_s, compute_s, exposed_comm_s, model_flops)
VALUES(?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT(job_id, run, bucket_ms) DO UPDATE SET
  steps = steps + excluded.steps,
  step_s = step_s + excluded.step_s,
  compute_s = compute_s + excluded.compute_s,
  exposed_comm_s = exposed_comm_s + excluded.exposed_comm_s,
  model_flops = model_flops + excluded.model_flops
)sql";

// Rolls buckets that started before ?1 into buckets of ?2 ms (re-adding them through the
// upserts' sums), then drops buckets that started before ?3.
constexpr const char* kRollUp = R"sql(
CREATE TEMP TABLE IF NOT EXISTS old_usage AS SELECT * FROM usage WHERE 0;
CREATE TEMP TABLE IF NOT EXISTS old_steps AS SELECT * FROM steps WHERE 0;
DELETE FROM temp.old_usage;
DELETE FROM temp.old_steps;
INSERT INTO temp.old_usage SELECT (bucket_ms / :coarse) * :coarse, SUM(length_ms), SUM(gpu_up_s),
    SUM(gpu_allocated_s), SUM(gpu_busy_s), SUM(gpu_fragmented_s), SUM(peak_flop)
  FROM usage WHERE bucket_ms < :cutoff GROUP BY 1;
INSERT INTO temp.old_steps SELECT job_id, run, (bucket_ms / :coarse) * :coarse, SUM(steps),
    SUM(step_s), SUM(compute_s), SUM(exposed_comm_s), SUM(model_flops)
  FROM steps WHERE bucket_ms < :cutoff GROUP BY 1, 2, 3;
DELETE FROM usage WHERE bucket_ms < :cutoff;
DELETE FROM steps WHERE bucket_ms < :cutoff;
INSERT INTO usage SELECT * FROM temp.old_usage WHERE bucket_ms >= :drop;
INSERT INTO steps SELECT * FROM temp.old_steps WHERE bucket_ms >= :drop;
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
  std::string ColumnText(int i) {
    const unsigned char* p = sqlite3_column_text(stmt_, i);
    return p ? reinterpret_cast<const char*>(p) : "";
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

// The records (column 0, with the row's key in column 1) a prepared, bound statement returns.
template <typename Message>
StatusOr<std::vector<Message>> ReadRecords(sqlite3* db, Stmt& stmt, const char* what) {
  std::vector<Message> out;
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    Message m;
    if (!m.ParseFromString(stmt.ColumnBlob(0))) {
      // One unreadable row must not keep loomd from starting: skip it and say which.
      std::fprintf(stderr, "loomd: %s: skipping unreadable row %s\n", what,
                   stmt.ColumnText(1).c_str());
      continue;
    }
    out.push_back(std::move(m));
  }
  if (rc != SQLITE_DONE) return SqlError(db, what);
  return out;
}

template <typename Message>
StatusOr<std::vector<Message>> LoadRecords(sqlite3* db, const char* sql, const char* what) {
  Stmt stmt(db, sql);
  LOOM_RETURN_IF_ERROR(stmt.status(what));
  return ReadRecords<Message>(db, stmt, what);
}

// Runs a query with integer parameters and turns each row into a T with `row`.
template <typename T, typename RowFn>
StatusOr<std::vector<T>> Query(sqlite3* db, const char* sql, const char* what,
                               std::initializer_list<int64_t> params, RowFn row) {
  Stmt stmt(db, sql);
  LOOM_RETURN_IF_ERROR(stmt.status(what));
  int i = 0;
  for (int64_t p : params) sqlite3_bind_int64(stmt.get(), ++i, p);
  std::vector<T> out;
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) out.push_back(row(stmt.get()));
  if (rc != SQLITE_DONE) return SqlError(db, what);
  return out;
}

// The SQLite implementation.
class SqliteStore final : public Store {
 public:
  explicit SqliteStore(sqlite3* db) : db_(db) {}
  ~SqliteStore() override { sqlite3_close(db_); }
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  Status Commit(const Batch& batch) override;
  StatusOr<std::vector<v1::Job>> LoadJobs() override;
  StatusOr<std::vector<v1::Node>> LoadNodes() override;
  StatusOr<std::vector<v1::Job>> LoadJobsPage(int64_t after_id, int limit, const JobFilter& filter) override;
  StatusOr<std::vector<Event>> LoadEvents(int64_t job_id) override;
  StatusOr<int64_t> MaxJobId() override;
  StatusOr<std::vector<FairShareUsage>> LoadFairShareUsage() override;
  StatusOr<std::vector<acct::UsageBucket>> LoadUsage(int64_t from, int64_t to) override;
  StatusOr<std::vector<acct::StepBucket>> LoadSteps(int64_t from, int64_t to, int64_t job_id) override;
  Status RollUp(int64_t now, const RollUpPolicy& policy) override;
  Status Exec(const char* sql);
  // Adds the history columns to a database written before them and fills them in.
  Status UpgradeJobsTable();

 private:
  sqlite3* db_;
};

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
  std::unique_ptr<SqliteStore> store(new SqliteStore(db));
  sqlite3_busy_timeout(db, 5000);
  LOOM_RETURN_IF_ERROR(store->Exec("PRAGMA journal_mode=WAL"));
  LOOM_RETURN_IF_ERROR(store->Exec(options.sync_full ? "PRAGMA synchronous=FULL"
                                                     : "PRAGMA synchronous=NORMAL"));
  LOOM_RETURN_IF_ERROR(store->Exec(kSchema));
  LOOM_RETURN_IF_ERROR(store->UpgradeJobsTable());
  LOOM_RETURN_IF_ERROR(store->Exec(kHistoryIndexes));
  return std::unique_ptr<Store>(std::move(store));
}


Status SqliteStore::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Internal(std::string("sqlite: ") + msg);
  }
  return Status::Ok();
}

Status SqliteStore::Commit(const Batch& batch) {
  if (batch.empty()) return Status::Ok();
  LOOM_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  auto write = [&]() -> Status {
    Stmt job(db_, "INSERT OR REPLACE INTO jobs(id, state, record, tenant, name, submit_ms, end_ms) "
                  "VALUES(?, ?, ?, ?, ?, ?, ?)");
    LOOM_RETURN_IF_ERROR(job.status("prepare job write"));
    for (const v1::Job* j : batch.jobs) {
      sqlite3_bind_int64(job.get(), 1, j->id());
      sqlite3_bind_int(job.get(), 2, j->state());
      job.BindBlob(3, j->SerializeAsString());
      job.BindText(4, j->spec().tenant());
      job.BindText(5, j->spec().name());
      sqlite3_bind_int64(job.get(), 6, j->submit_time_ms());
      sqlite3_bind_int64(job.get(), 7, j->end_time_ms());
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
    Stmt usage(db_, kAddUsage);
    LOOM_RETURN_IF_ERROR(usage.status("prepare usage write"));
    for (const acct::UsageBucket& b : batch.usage) {
      sqlite3_bind_int64(usage.get(), 1, b.start);
      sqlite3_bind_int64(usage.get(), 2, b.length_ms);
      const double values[] = {b.gpu_up_s, b.gpu_allocated_s, b.gpu_busy_s, b.gpu_fragmented_s,
                               b.peak_flop};
      for (int i = 0; i < 5; ++i) sqlite3_bind_double(usage.get(), 3 + i, values[i]);
      LOOM_RETURN_IF_ERROR(usage.Run("write usage"));
    }
    Stmt steps(db_, kAddSteps);
    LOOM_RETURN_IF_ERROR(steps.status("prepare steps write"));
    for (const acct::StepBucket& b : batch.steps) {
      sqlite3_bind_int64(steps.get(), 1, b.job_id);
      sqlite3_bind_int(steps.get(), 2, b.run);
      sqlite3_bind_int64(steps.get(), 3, b.start);
      sqlite3_bind_int64(steps.get(), 4, b.totals.steps);
      const double values[] = {b.totals.step_s, b.totals.compute_s, b.totals.exposed_comm_s,
                               b.totals.model_flops};
      for (int i = 0; i < 4; ++i) sqlite3_bind_double(steps.get(), 5 + i, values[i]);
      LOOM_RETURN_IF_ERROR(steps.Run("write steps"));
    }
    if (batch.fair_share_usage.empty()) return Status::Ok();
    Stmt fair(db_, "INSERT OR REPLACE INTO fair_share_usage(tenant, usage, as_of_ms) VALUES(?, ?, ?)");
    LOOM_RETURN_IF_ERROR(fair.status("prepare fair-share usage write"));
    for (const FairShareUsage& u : batch.fair_share_usage) {
      fair.BindText(1, u.tenant);
      sqlite3_bind_double(fair.get(), 2, u.gpu_ms);
      sqlite3_bind_int64(fair.get(), 3, u.as_of_ms);
      LOOM_RETURN_IF_ERROR(fair.Run("write fair-share usage"));
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

StatusOr<std::vector<v1::Job>> SqliteStore::LoadJobs() {
  return LoadRecords<v1::Job>(db_, "SELECT record, id FROM jobs ORDER BY id", "load jobs");
}

StatusOr<std::vector<v1::Job>> SqliteStore::LoadJobsPage(int64_t after_id, int limit, const JobFilter& filter) {
  std::string in;
  for (v1::JobState st : filter.states) in += (in.empty() ? "" : ",") + std::to_string(static_cast<int>(st));
  // The states are enum numbers, not user text: safe to put in the statement; the rest is
  // bound. Only the filters given are in the query, so that SQLite can use jobs_by_tenant (a
  // tenant's page is a range of that index) and jobs_by_end. Matches() in rows.h is the same
  // predicate.
  std::string sql = "SELECT record, id FROM jobs WHERE id > ?1";
  if (!in.empty()) sql += " AND state IN (" + in + ")";
  if (!filter.tenant.empty()) sql += " AND tenant = ?2";
  if (!filter.name.empty()) sql += " AND name = ?3";
  if (filter.to_ms > 0) sql += " AND submit_ms < ?4";
  if (filter.from_ms > 0) sql += " AND (end_ms = 0 OR end_ms >= ?5)";
  sql += " ORDER BY id LIMIT ?6";
  Stmt stmt(db_, sql.c_str());
  LOOM_RETURN_IF_ERROR(stmt.status("load jobs page"));
  sqlite3_bind_int64(stmt.get(), 1, after_id);
  stmt.BindText(2, filter.tenant);
  stmt.BindText(3, filter.name);
  sqlite3_bind_int64(stmt.get(), 4, filter.to_ms);
  sqlite3_bind_int64(stmt.get(), 5, filter.from_ms);
  sqlite3_bind_int64(stmt.get(), 6, std::max(limit, 0));
  return ReadRecords<v1::Job>(db_, stmt, "load jobs page");
}

Status SqliteStore::UpgradeJobsTable() {
  for (const char* column : kHistoryColumns) {
    const std::string name = std::string(column).substr(0, std::string(column).find(' '));
    Stmt probe(db_, ("SELECT " + name + " FROM jobs LIMIT 0").c_str());
    if (probe.status("probe").ok()) continue;
    LOOM_RETURN_IF_ERROR(Exec(("ALTER TABLE jobs ADD COLUMN " + std::string(column)).c_str()));
  }
  LOOM_ASSIGN_OR_RETURN(auto old, LoadRecords<v1::Job>(db_, "SELECT record, id FROM jobs WHERE tenant IS NULL",
                                                        "load jobs to upgrade"));
  if (old.empty()) return Status::Ok();
  Batch batch;
  for (const v1::Job& j : old) batch.jobs.push_back(&j);
  return Commit(batch);  // rewrites each row with its columns
}

StatusOr<std::vector<v1::Node>> SqliteStore::LoadNodes() {
  return LoadRecords<v1::Node>(db_, "SELECT record, name FROM nodes ORDER BY name", "load nodes");
}

StatusOr<std::vector<Event>> SqliteStore::LoadEvents(int64_t job_id) {
  return Query<Event>(db_, "SELECT time_ms, node, what FROM events WHERE job_id = ? ORDER BY seq",
                      "load events", {job_id}, [job_id](sqlite3_stmt* r) {
                        return Event{sqlite3_column_int64(r, 0), job_id,
                                     reinterpret_cast<const char*>(sqlite3_column_text(r, 1)),
                                     reinterpret_cast<const char*>(sqlite3_column_text(r, 2))};
                      });
}

StatusOr<int64_t> SqliteStore::MaxJobId() {
  Stmt stmt(db_, "SELECT COALESCE(MAX(id), 0) FROM jobs");
  LOOM_RETURN_IF_ERROR(stmt.status("max job id"));
  if (sqlite3_step(stmt.get()) != SQLITE_ROW) return SqlError(db_, "max job id");
  return static_cast<int64_t>(sqlite3_column_int64(stmt.get(), 0));
}

StatusOr<std::vector<acct::UsageBucket>> SqliteStore::LoadUsage(int64_t from, int64_t to) {
  return Query<acct::UsageBucket>(
      db_,
      "SELECT bucket_ms, length_ms, gpu_up_s, gpu_allocated_s, gpu_busy_s, gpu_fragmented_s, "
      "peak_flop FROM usage WHERE bucket_ms >= ? AND bucket_ms < ? ORDER BY bucket_ms",
      "load usage", {from, to}, [](sqlite3_stmt* r) {
        return acct::UsageBucket{sqlite3_column_int64(r, 0), sqlite3_column_int64(r, 1),
                                 sqlite3_column_double(r, 2), sqlite3_column_double(r, 3),
                                 sqlite3_column_double(r, 4), sqlite3_column_double(r, 5),
                                 sqlite3_column_double(r, 6)};
      });
}

StatusOr<std::vector<acct::StepBucket>> SqliteStore::LoadSteps(int64_t from, int64_t to, int64_t job_id) {
  return Query<acct::StepBucket>(
      db_,
      "SELECT job_id, run, bucket_ms, steps, step_s, compute_s, exposed_comm_s, model_flops "
      "FROM steps WHERE bucket_ms >= ? AND bucket_ms < ? AND (? = 0 OR job_id = ?) "
      "ORDER BY job_id, run, bucket_ms",
      "load steps", {from, to, job_id, job_id}, [](sqlite3_stmt* r) {
        return acct::StepBucket{sqlite3_column_int64(r, 0), sqlite3_column_int(r, 1),
                                sqlite3_column_int64(r, 2),
                                {sqlite3_column_int64(r, 3), sqlite3_column_double(r, 4),
                                 sqlite3_column_double(r, 5), sqlite3_column_double(r, 6),
                                 sqlite3_column_double(r, 7)}};
      });
}

Status SqliteStore::RollUp(int64_t now, const RollUpPolicy& policy) {
  const int64_t coarse = std::max<int64_t>(policy.coarse_ms, 1);
  // Aligned, so a coarse bucket is never split between rolled and fine rows.
  const int64_t cutoff = (now - policy.fine_for_ms) / coarse * coarse;
  const int64_t drop = now - policy.keep_ms;
  std::string sql = kRollUp;
  for (const auto& [name, value] : {std::pair<std::string, int64_t>{":coarse", coarse},
                                    {":cutoff", cutoff}, {":drop", drop}}) {
    for (size_t at; (at = sql.find(name)) != std::string::npos;) {
      sql.replace(at, name.size(), std::to_string(value));
    }
  }
  LOOM_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status s = Exec(sql.c_str());
  if (!s.ok()) {
    (void)Exec("ROLLBACK");
    return s;
  }
  return Exec("COMMIT");
}

StatusOr<std::vector<FairShareUsage>> SqliteStore::LoadFairShareUsage() {
  return Query<FairShareUsage>(
      db_, "SELECT tenant, usage, as_of_ms FROM fair_share_usage ORDER BY tenant",
      "load fair-share usage", {}, [](sqlite3_stmt* r) {
        return FairShareUsage{reinterpret_cast<const char*>(sqlite3_column_text(r, 0)),
                              sqlite3_column_double(r, 1), sqlite3_column_int64(r, 2)};
      });
}

}  // namespace loom::store
