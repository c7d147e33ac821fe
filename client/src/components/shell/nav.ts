export interface NavItem {
  href: string;
  label: string;
  icon: string;
  adminOnly?: boolean;
}

export const NAV_ITEMS: NavItem[] = [
  { href: "/", label: "Dashboard", icon: "🏠" },
  { href: "/leaderboards/", label: "Leaderboards", icon: "🏆" },
  { href: "/challenges/", label: "Challenges", icon: "⚔️" },
  { href: "/profile/", label: "Profile", icon: "👤" },
  { href: "/admin/", label: "Admin", icon: "🛠️", adminOnly: true },
];

/** The items an account sees: Admin only for admins. */
export function navItemsFor(role: string | null | undefined): NavItem[] {
  return NAV_ITEMS.filter((item) => !item.adminOnly || role === "admin");
}

/** Whether a nav item is the current page ("/" only exactly; sections by prefix). */
export function isActive(href: string, pathname: string): boolean {
  return href === "/" ? pathname === "/" : pathname.startsWith(href);
}

/** "/login" and "/login/" alike: always with a trailing slash. */
export function normalizePath(pathname: string | null | undefined): string {
  if (!pathname) return "/";
  return pathname.endsWith("/") ? pathname : `${pathname}/`;
}
