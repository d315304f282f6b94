// Loom's dashboard: four read-only pages over loomd's /api/ (cluster, queue, one job,
// efficiency), charts drawn with uPlot. Each chart's container carries data-points (how many
// points it draws) so a browser test can check it without reading pixels.
import uPlot from "uplot";

const page = document.getElementById("page");

async function api(path) {
  const r = await fetch(path);
  if (r.status === 401) {  // no or an expired token cookie: to the log-in form, then back here
    location.href = "/login?next=" + encodeURIComponent(location.pathname + location.hash);
  }
  if (!r.ok) throw new Error(`${path}: HTTP ${r.status}`);
  return r.json();
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function table(headers, rows, id) {
  const t = el("table", id ? { id } : {});
  t.append(el("tr", {}, ...headers.map((h) => el("th", {}, h))));
  for (const r of rows) t.append(el("tr", {}, ...r.map((c) => (c instanceof Node ? el("td", {}, c) : el("td", typeof c === "number" ? { class: "num" } : {}, c)))));
  return t;
}

const pct = (v) => (v === undefined || v < 0 ? "–" : (100 * v).toFixed(1) + "%");
const secs = (ms) => {
  const s = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
};

// A line chart of `series` (name -> values) over times in ms.
function chart(title, times, series, opts = {}) {
  const box = el("div", { class: "chart", "data-title": title });
  const names = Object.keys(series);
  const data = [times.map((t) => t / 1000), ...names.map((n) => series[n])];
  const colors = ["#5b8def", "#e67e22", "#2e7d32", "#8e44ad"];
  new uPlot({
    title, width: opts.width || 520, height: 220,
    scales: { x: { time: true } },
    series: [{}, ...names.map((n, i) => ({ label: n, stroke: colors[i % colors.length], width: 2, value: opts.value }))],
  }, data, box);
  box.setAttribute("data-points", String(times.length));
  return box;
}

async function clusterPage() {
  const { nodes, stats } = await api("/api/cluster");
  const leaves = {};
  for (const n of nodes) (leaves[(n.labels || {}).leaf || "(no leaf)"] ||= []).push(n);
  const out = [el("h1", {}, "Cluster")];
  const up = stats.gpus_up, alloc = stats.gpus_allocated;
  out.push(el("div", { class: "figures" },
    el("div", { class: "figure" }, el("b", {}, `${stats.nodes_up} / ${stats.nodes_up + stats.nodes_down}`), "nodes up"),
    el("div", { class: "figure" }, el("b", {}, `${alloc} / ${up}`), "GPUs allocated"),
    el("div", { class: "figure" }, el("b", {}, pct(stats.cluster.mfu)), "cluster MFU (1 h)"),
    el("div", { class: "figure" }, el("b", {}, pct(stats.cluster.gpu_busy_ratio)), "GPU busy (1 h)")));
  const topo = el("div", { id: "topology" });
  for (const [leaf, ns] of Object.entries(leaves).sort()) {
    const box = el("div", { class: "leaf" }, el("div", {}, el("b", {}, `leaf ${leaf}`)));
    for (const n of ns) {
      const allocated = new Set(n.allocated_gpus || []);
      const gpus = el("div", { class: "gpus" }, ...n.gpus.map((g) =>
        el("div", { class: "gpu" + (allocated.has(g.index) ? " alloc" : ""), title: `GPU ${g.index}: ${pct(g.utilization)} busy` })));
      box.append(el("div", { class: "node" }, `${n.name} `, el("span", { class: `state-${n.state}` }, n.state), gpus));
    }
    topo.append(box);
  }
  out.push(topo);
  out.push(el("h2", {}, "Nodes"));
  out.push(table(["NODE", "STATE", "LEAF", "GPUS", "ALLOCATED", "UTILIZATION"],
    nodes.map((n) => {
      const u = n.gpus.length ? n.gpus.reduce((s, g) => s + g.utilization, 0) / n.gpus.length : 0;
      return [n.name, n.state, (n.labels || {}).leaf || "", n.gpus.length, (n.allocated_gpus || []).length, pct(u)];
    }), "nodes"));
  return out;
}

function jobLink(j) {
  return el("a", { href: `#/job/${j.id}` }, j.id);
}

async function queuePage() {
  const { jobs, now_ms } = await api("/api/queue");
  const live = jobs.filter((j) => j.state === "PENDING" || j.state === "RUNNING");
  const done = jobs.filter((j) => !(j.state === "PENDING" || j.state === "RUNNING"));
  const row = (j) => {
    const start = Number(j.start_time_ms), exp = Number(j.expected_start_ms);
    const when = j.state === "PENDING" ? (exp ? "in " + secs(exp - now_ms) : "N/A") : start ? new Date(start).toLocaleTimeString() : "-";
    const where = j.state === "PENDING" ? `(${j.reason || "None"})` : (j.allocation || []).map((a) => a.node).join(",");
    return [jobLink(j), j.spec.name, j.spec.tenant, j.state, j.spec.gpus, when, where];
  };
  const headers = ["JOBID", "NAME", "TENANT", "STATE", "GPUS", "START", "NODELIST(REASON)"];
  return [el("h1", {}, "Queue"), table(headers, live.map(row), "queue"),
          el("h2", {}, "Finished (still in loomd's memory)"), table(headers, done.map(row), "finished")];
}

async function jobPage(id) {
  const { job, samples, log_tail } = await api(`/api/jobs/${id}`);
  const s = job.spec;
  const out = [el("h1", {}, `Job ${job.id}: ${s.name}`)];
  out.push(table(["STATE", "TENANT", "GPUS", "GPUS/NODE", "REASON", "ATTEMPT", "PREEMPTIONS", "REQUEUES"],
    [[job.state, s.tenant, s.gpus, s.gpus_per_node, job.reason || "", job.attempt, job.preemptions, job.requeues]], "job"));
  out.push(el("h2", {}, "Attempts"));
  out.push(table(["ATTEMPT", "START", "END", "GPUS", "NODES", "STEPS", "MFU", "CAUSE"],
    (job.runs || []).map((r, i) => [r.attempt || i + 1, new Date(Number(r.start_ms)).toLocaleTimeString(),
      Number(r.end_ms) ? new Date(Number(r.end_ms)).toLocaleTimeString() : "running", r.gpus, (r.nodes || []).join(","),
      Number(r.steps), r.step_time_s > 0 && r.peak_flops > 0 ? pct(r.model_flops / (r.peak_flops * r.step_time_s)) : "–",
      r.cause === "END_CAUSE_UNSPECIFIED" ? "" : r.cause]), "attempts"));
  out.push(el("h2", {}, "Ranks"));
  // Tasks per node (--tasks-per-node; 0: one per GPU): what `loom logs --rank` counts.
  const tpn = s.tasks_per_node || s.gpus_per_node || s.gpus;
  const ranks = (i) => tpn === 1 ? `${i}` : `${i * tpn}–${(i + 1) * tpn - 1}`;
  out.push(table(["NODE", "RANKS", "GPUS"], (job.allocation || []).map((a, i) =>
    [a.node, s.mpi ? "mpirun" : ranks(i), (a.gpu_indices || []).join(",")]), "ranks"));
  out.push(el("h2", {}, "Training"));
  const mfu = job.mfu_series || [];
  if (mfu.length) {
    const t0 = Number(job.start_time_ms);
    out.push(chart("MFU per metrics bucket", mfu.map((_, i) => t0 + i * 10000), { MFU: mfu }, { value: (u, v) => pct(v) }));
  }
  if (samples.length) {
    const t = samples.map((p) => p.t_ms);
    out.push(chart("MFU (sampled)", t, { MFU: samples.map((p) => p.mfu) }, { value: (u, v) => pct(v) }));
    out.push(chart("Step time (s)", t, { "step s": samples.map((p) => p.step_s) }));
  }
  if (!mfu.length && !samples.length) out.push(el("p", {}, "No training steps reported."));
  out.push(el("h2", {}, "Log (rank 0, tail)"));
  out.push(el("pre", { class: "log", id: "log" }, log_tail || "(no output)"));
  return out;
}

async function efficiencyPage() {
  const { series, tenants } = await api("/api/efficiency");
  const t = series.map((p) => p.t_ms);
  const clean = (k) => series.map((p) => (p[k] < 0 ? null : p[k]));
  return [el("h1", {}, "Efficiency"),
    chart("Cluster, last hour", t, { allocation: clean("allocation"), "cluster MFU": clean("mfu"), goodput: clean("goodput"), busy: clean("busy") },
      { width: 800, value: (u, v) => (v == null ? "–" : pct(v)) }),
    el("h2", {}, "Per tenant (last hour)"),
    table(["TENANT", "GPU-HOURS", "SHARE", "MFU", "GOODPUT", "PENDING"], tenants.map((x) =>
      [x.tenant, x.efficiency.gpu_hours_allocated.toFixed(3), pct(x.share_of_allocated), pct(x.efficiency.mfu),
       pct(x.efficiency.goodput), x.pending_jobs]), "tenants")];
}

async function render() {
  const [, name, arg] = (location.hash || "#/cluster").split("/");
  const pages = { cluster: clusterPage, queue: queuePage, efficiency: efficiencyPage, job: () => jobPage(arg) };
  try {
    const nodes = await (pages[name] || clusterPage)();
    page.replaceChildren(...nodes);
    page.setAttribute("data-page", name || "cluster");
    document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (e) {
    page.replaceChildren(el("p", { class: "error" }, String(e)));
  }
}

window.addEventListener("hashchange", render);
render();
setInterval(render, 5000);
