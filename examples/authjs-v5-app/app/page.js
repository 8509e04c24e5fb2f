import { APP_NAME, appVersion, hasFault } from "@/lib/config";

export const dynamic = "force-dynamic";

/** JSON for an inline <script>: escape "<" so the value cannot close the tag. */
function scriptJson(value) {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}

export default function HomePage() {
  const leak = hasFault("leak-secret");
  return (
    <main>
      <h1>{APP_NAME}</h1>
      <p>
        Version: <code data-testid="app-version">{appVersion()}</code>
      </p>
      <ul>
        <li>
          <a href="/signin">Sign in</a>
        </li>
        <li>
          <a href="/dashboard">Dashboard</a>
        </li>
      </ul>
      {leak ? (
        // Fault: a server-side secret shipped to the browser, the classic NEXT_PUBLIC_ mistake.
        <script
          id="public-config"
          dangerouslySetInnerHTML={{
            __html: `window.__PUBLIC_CONFIG__ = ${scriptJson({
              NEXT_PUBLIC_API_KEY: process.env.LEAK_VALUE || "",
            })};`,
          }}
        />
      ) : null}
    </main>
  );
}
