// Ambient declarations for assets imported as files (`with { type: "file" }` yields a path).
declare module "*/standalone.js" {
  const path: string;
  export default path;
}
