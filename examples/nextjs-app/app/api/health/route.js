import { appVersion, hasFault, maintenanceMode } from "@/lib/config";
import { checkDatabase } from "@/lib/db";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

const NO_STORE = { "Cache-Control": "no-store" };

export async function GET() {
  const version = appVersion();

  if (maintenanceMode()) {
    return Response.json(
      { status: "maintenance", maintenance: true, version },
      { status: 503, headers: NO_STORE },
    );
  }

  const database = await checkDatabase();

  if (hasFault("health-degraded")) {
    // Fault: reports degraded but still answers 200, so a status-code-only
    // monitor would call it healthy.
    return Response.json(
      { status: "degraded", version, database, maintenance: false },
      { status: 200, headers: NO_STORE },
    );
  }

  const ok = database.status === "ok";
  return Response.json(
    { status: ok ? "ok" : "degraded", version, database, maintenance: false },
    { status: ok ? 200 : 503, headers: NO_STORE },
  );
}
