import { APP_NAME } from "@/lib/config";

export const metadata = {
  title: APP_NAME,
  description: "Auth.js v5 reference target app for opscheck runbook checks",
};

export default function RootLayout({ children }) {
  return (
    <html lang="en">
      <body style={{ fontFamily: "system-ui, sans-serif", margin: "2rem", lineHeight: 1.5 }}>
        {children}
      </body>
    </html>
  );
}
