"use client";

import { animate, useReducedMotion } from "motion/react";
import { useEffect, useRef, useState } from "react";
import { formatNumber } from "@/lib/format";

export interface AnimatedNumberProps {
  value: number;
  /** Formats the shown number (default: thousands separators). */
  format?: (value: number) => string;
  /** Seconds for the count (default 0.9). */
  duration?: number;
  className?: string;
  "data-testid"?: string;
}

/** A number that counts from its previous value to the new one (instantly with reduced motion). */
export function AnimatedNumber({ value, format = formatNumber, duration = 0.9, className, ...rest }: AnimatedNumberProps) {
  const reduce = useReducedMotion();
  const [shown, setShown] = useState(value);
  const from = useRef(value);

  useEffect(() => {
    if (reduce || from.current === value) {
      from.current = value;
      setShown(value);
      return undefined;
    }
    const controls = animate(from.current, value, {
      duration,
      ease: [0.16, 1, 0.3, 1],
      onUpdate: (v) => {
        from.current = v;
        setShown(Math.round(v));
      },
      onComplete: () => {
        from.current = value;
        setShown(value);
      },
    });
    return () => controls.stop();
  }, [value, reduce, duration]);

  return (
    <span className={className} data-testid={rest["data-testid"]} data-value={value}>
      {format(shown)}
    </span>
  );
}
