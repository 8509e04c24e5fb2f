import { getServerSession } from "next-auth/next";
import { buildAuthOptions, smokeUserRecord } from "@/lib/auth";
import { hasFault } from "@/lib/config";

export const dynamic = "force-dynamic";
export const runtime = "nodejs";

const NO_STORE = { "Cache-Control": "no-store" };

export async function GET() {
  if (hasFault("open-protected")) {
    // Fault: the protected resource is served without any session check.
    return Response.json({ user: smokeUserRecord() }, { status: 200, headers: NO_STORE });
  }

  let session;
  try {
    session = await getServerSession(buildAuthOptions());
  } catch (err) {
    console.error(`[me] session lookup failed: ${err?.name || "error"}`);
    return Response.json({ error: "server_error" }, { status: 500, headers: NO_STORE });
  }

  if (!session?.user) {
    return Response.json({ error: "unauthorized" }, { status: 401, headers: NO_STORE });
  }
  return Response.json({ user: session.user }, { status: 200, headers: NO_STORE });
}
