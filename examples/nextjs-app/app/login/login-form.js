"use client";

import { useEffect, useState } from "react";

// A plain HTML form posting to NextAuth's credentials callback. The CSRF token
// is fetched from /api/auth/csrf (which also sets the matching cookie).
export default function LoginForm() {
  const [csrfToken, setCsrfToken] = useState("");

  useEffect(() => {
    let cancelled = false;
    fetch("/api/auth/csrf", { credentials: "same-origin" })
      .then((r) => r.json())
      .then((data) => {
        if (!cancelled) setCsrfToken(data.csrfToken || "");
      })
      .catch(() => {});
    return () => {
      cancelled = true;
    };
  }, []);

  return (
    <form method="post" action="/api/auth/callback/credentials">
      <input type="hidden" name="csrfToken" value={csrfToken} />
      <input type="hidden" name="callbackUrl" value="/" />
      <p>
        <label>
          Username <input name="username" type="text" autoComplete="username" required />
        </label>
      </p>
      <p>
        <label>
          Password <input name="password" type="password" autoComplete="current-password" required />
        </label>
      </p>
      <button type="submit" disabled={!csrfToken}>
        Sign in
      </button>
    </form>
  );
}
