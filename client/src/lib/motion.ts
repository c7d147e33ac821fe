// Reduced motion turns animations OFF, not just down: with `prefers-reduced-motion: reduce` every motion
// animation jumps to its end (MotionGlobalConfig.skipAnimations, set before the first render and kept in
// step with the setting), and globals.css ends the CSS animations and transitions at once. MotionConfig's
// reducedMotion="user" alone would still fade and scale.
import { MotionGlobalConfig } from "motion/react";

export const REDUCED_MOTION = "(prefers-reduced-motion: reduce)";

if (typeof window !== "undefined" && typeof window.matchMedia === "function") {
  const query = window.matchMedia(REDUCED_MOTION);
  const apply = () => {
    MotionGlobalConfig.skipAnimations = query.matches;
  };
  apply();
  query.addEventListener("change", apply);
}
