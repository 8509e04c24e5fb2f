import { Pool } from "pg";

const CONNECT_TIMEOUT_MS = 2000;
const STATEMENT_TIMEOUT_MS = 2000;
const QUERY_TIMEOUT_MS = 2500;

// One pool per process, kept on globalThis so module re-evaluation does not
// leak pools. Created lazily on first use, from the DATABASE_URL of that moment.
function getPool() {
  const url = process.env.DATABASE_URL;
  if (!url) return null;
  const g = globalThis;
  if (g.__opscheckPool && g.__opscheckPoolUrl === url) return g.__opscheckPool;
  if (g.__opscheckPool) g.__opscheckPool.end().catch(() => {});
  const pool = new Pool({
    connectionString: url,
    max: 4,
    idleTimeoutMillis: 10000,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    application_name: "opscheck-nextjs-app",
  });
  // An idle client whose server goes away emits 'error' on the pool; without a
  // listener that would crash the whole process.
  pool.on("error", (err) => {
    console.error(`[db] idle client error: ${errorCode(err)}`);
  });
  g.__opscheckPool = pool;
  g.__opscheckPoolUrl = url;
  return pool;
}

/**
 * A short, safe description of a database error: a driver/SQLSTATE code or an
 * error class name. Never the message (it may contain host names, user names
 * or, for some drivers, the connection string).
 */
export function errorCode(err) {
  if (!err) return "error";
  const msg = typeof err.message === "string" ? err.message.toLowerCase() : "";
  let code;
  if (typeof err.code === "string" && err.code) code = err.code;
  else if (msg.includes("timeout")) code = "timeout";
  else if (msg.includes("terminated")) code = "connection_terminated";
  else code = err.name || "error";
  return /^[A-Za-z0-9_.-]{1,40}$/.test(code) ? code : "error";
}

/** Run `SELECT 1`; resolves to {status:"ok", latency_ms} or {status:"error", error}. */
export async function checkDatabase() {
  const pool = getPool();
  if (!pool) return { status: "error", error: "not_configured" };
  const started = performance.now();
  try {
    await pool.query("SELECT 1");
    return { status: "ok", latency_ms: Math.round((performance.now() - started) * 10) / 10 };
  } catch (err) {
    const code = errorCode(err);
    console.error(`[db] health query failed: ${code}`);
    return { status: "error", error: code };
  }
}
