import { cn } from "./cn";

export interface AvatarProps {
  /** Stable id (user id or handle): picks the color. */
  id: string;
  /** Name to take initials from and to label the avatar. */
  name: string;
  size?: "xs" | "sm" | "md" | "lg" | "xl";
  /** A green "online" dot at the bottom right. */
  online?: boolean;
  /** Hide from assistive tech when the name is next to it anyway. */
  decorative?: boolean;
  className?: string;
}

const SIZES = {
  xs: "size-6 text-[10px]",
  sm: "size-8 text-xs",
  md: "size-10 text-sm 2xl:size-12 2xl:text-base",
  lg: "size-14 text-lg 2xl:size-16 2xl:text-xl",
  xl: "size-20 text-2xl 2xl:size-24 2xl:text-3xl",
} as const;

/** A deterministic 32-bit hash (FNV-1a) of a string. */
export function hashString(value: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < value.length; i++) {
    hash ^= value.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** Up to two initials: "Ana Lopez" -> "AL", "ben" -> "B", "Chloé" -> "C". */
export function initialsOf(name: string): string {
  const words = name.trim().split(/[\s._-]+/).filter(Boolean);
  const first = words[0]?.[0] ?? "?";
  const second = words.length > 1 ? (words[words.length - 1]?.[0] ?? "") : "";
  return (first + second).toUpperCase();
}

/** A hue from the id; dark enough behind white text for AA contrast. */
export function avatarColors(id: string): { from: string; to: string } {
  const hue = hashString(id) % 360;
  return { from: `hsl(${hue} 65% 38%)`, to: `hsl(${(hue + 40) % 360} 70% 30%)` };
}

export function Avatar({ id, name, size = "md", online, decorative, className }: AvatarProps) {
  const { from, to } = avatarColors(id);
  return (
    <span
      role={decorative ? undefined : "img"}
      aria-label={decorative ? undefined : online ? `${name} (online)` : name}
      aria-hidden={decorative || undefined}
      title={name}
      className={cn("relative inline-flex shrink-0 select-none", className)}
    >
      <span
        className={cn(
          "inline-flex items-center justify-center rounded-full font-bold text-white ring-2 ring-ink-900",
          SIZES[size],
        )}
        style={{ backgroundImage: `linear-gradient(135deg, ${from}, ${to})` }}
      >
        {initialsOf(name)}
      </span>
      {online ? (
        <span aria-hidden className="absolute right-0 bottom-0 block size-[28%] min-h-2 min-w-2 rounded-full bg-success ring-2 ring-ink-900" />
      ) : null}
    </span>
  );
}
