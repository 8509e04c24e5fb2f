import { NextResponse } from "next/server";
import { APP_NAME, SLOW_DELAY_MS, activeFaults, maintenanceMode, sleep } from "@/lib/config";

// Next.js 16 renamed `middleware.js` to `proxy.js` (exported function `proxy`).
// It runs on the Node.js runtime for every request, at request time, so the
// decisions below follow the environment of the running server, not the build.

const SECURITY_HEADERS = {
  "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
  "X-Content-Type-Options": "nosniff",
  "X-Frame-Options": "DENY",
  "Content-Security-Policy": "frame-ancestors 'none'",
  "Referrer-Policy": "strict-origin-when-cross-origin",
};

const MAINTENANCE_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Down for maintenance</title></head>
<body><h1>Down for maintenance</h1>
<p>${APP_NAME} is undergoing scheduled maintenance. Please try again later.</p>
</body></html>
`;

/** A page request: not an API route, not a build asset, not a file with an extension. */
function isPage(pathname) {
  if (pathname.startsWith("/api/") || pathname === "/api") return false;
  if (pathname.startsWith("/_next/")) return false;
  return !/\.[A-Za-z0-9]+$/.test(pathname);
}

export async function proxy(request) {
  const faults = activeFaults();
  const { pathname } = request.nextUrl;
  const page = isPage(pathname);

  if (faults.has("slow") && (page || pathname === "/api/health")) {
    await sleep(SLOW_DELAY_MS);
  }

  let response;
  if (page && maintenanceMode()) {
    response = new NextResponse(MAINTENANCE_HTML, {
      status: 503,
      headers: {
        "Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "no-store",
        "Retry-After": "300",
      },
    });
  } else {
    response = NextResponse.next();
  }

  if (!faults.has("no-security-headers")) {
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
      response.headers.set(name, value);
    }
  }
  return response;
}

// No matcher: the proxy runs for every path, so every response carries the headers.
