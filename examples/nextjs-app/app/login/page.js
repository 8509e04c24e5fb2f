import { APP_NAME } from "@/lib/config";
import LoginForm from "./login-form";

export const dynamic = "force-dynamic";

export default async function LoginPage({ searchParams }) {
  const params = (await searchParams) || {};
  const error = typeof params.error === "string" ? params.error : null;
  return (
    <main>
      <h1>Sign in to {APP_NAME}</h1>
      {error ? (
        <p role="alert" style={{ color: "#b00" }}>
          Sign-in failed ({error.slice(0, 40)}).
        </p>
      ) : null}
      <LoginForm />
      <p>
        Or use the <a href="/api/auth/signin">NextAuth sign-in page</a>.
      </p>
    </main>
  );
}
