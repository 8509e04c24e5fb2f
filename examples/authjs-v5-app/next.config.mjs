/** @type {import('next').NextConfig} */
const nextConfig = {
  // Never advertise the framework (no "X-Powered-By: Next.js").
  poweredByHeader: false,
  reactStrictMode: true,
  // Security headers are set per request in proxy.js (next.config `headers()` is frozen at build
  // time), so the `no-security-headers` fault mode can switch them off without a rebuild.
};

export default nextConfig;
