// Hash routes: the controller serves one page, and the address after `#` says which screen.
// `#/`, `#/hosts/:name`, `#/vms/:name`, `#/templates/:name`, `#/clusters/:name`,
// `#/clusters/:name/compatibility`, `#/tasks` (every task), `#/tasks/:id`.
import { useEffect, useState } from "react";

export type Route =
  | { readonly kind: "home" }
  | { readonly kind: "host"; readonly name: string }
  | { readonly kind: "vm"; readonly name: string }
  | { readonly kind: "template"; readonly name: string }
  | { readonly kind: "cluster"; readonly name: string }
  | { readonly kind: "compatibility"; readonly name: string }
  | { readonly kind: "task"; readonly id: string }
  | { readonly kind: "tasks" }
  | { readonly kind: "unknown"; readonly path: string };

export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, "");
  const parts = path.split("/").filter((p) => p !== "").map((p) => decodeURIComponent(p));
  const [first, second, third] = parts;
  if (parts.length === 0) return { kind: "home" };
  if (first === "tasks" && parts.length === 1) return { kind: "tasks" };
  if (second !== undefined && parts.length === 2) {
    if (first === "hosts") return { kind: "host", name: second };
    if (first === "vms") return { kind: "vm", name: second };
    if (first === "templates") return { kind: "template", name: second };
    if (first === "clusters") return { kind: "cluster", name: second };
    if (first === "tasks") return { kind: "task", id: second };
  }
  if (first === "clusters" && second !== undefined && third === "compatibility" && parts.length === 3) return { kind: "compatibility", name: second };
  return { kind: "unknown", path };
}

/** The address of a screen, for links: `href(hostHref("esx01"))`. */
export const hrefs = {
  home: () => "#/",
  host: (name: string) => `#/hosts/${encodeURIComponent(name)}`,
  vm: (name: string) => `#/vms/${encodeURIComponent(name)}`,
  template: (name: string) => `#/templates/${encodeURIComponent(name)}`,
  cluster: (name: string) => `#/clusters/${encodeURIComponent(name)}`,
  compatibility: (name: string) => `#/clusters/${encodeURIComponent(name)}/compatibility`,
  task: (id: string) => `#/tasks/${encodeURIComponent(id)}`,
  tasks: () => "#/tasks",
} as const;

export function navigate(href: string): void {
  window.location.hash = href.replace(/^#/, "");
}

export function useRoute(): Route {
  const [route, setRoute] = useState<Route>(() => parseRoute(window.location.hash));
  useEffect(() => {
    const onChange = (): void => {
      setRoute(parseRoute(window.location.hash));
    };
    window.addEventListener("hashchange", onChange);
    return () => {
      window.removeEventListener("hashchange", onChange);
    };
  }, []);
  return route;
}
