"use client";

import {
  cloneElement,
  forwardRef,
  isValidElement,
  useId,
  type InputHTMLAttributes,
  type ReactElement,
  type ReactNode,
  type SelectHTMLAttributes,
  type TextareaHTMLAttributes,
} from "react";
import { cn } from "./cn";

const CONTROL =
  "block w-full min-w-0 rounded-xl border bg-ink-900/70 px-3.5 text-fg placeholder:text-fg-subtle shadow-inner transition-colors duration-150 focus-visible:outline-2 focus-visible:outline-offset-1 focus-visible:outline-accent-2 disabled:opacity-60 2xl:text-lg";
const BORDER_OK = "border-white/12 hover:border-white/20 focus:border-accent-2/60";
const BORDER_ERR = "border-danger/70 focus:border-danger";

export interface InputProps extends InputHTMLAttributes<HTMLInputElement> {
  invalid?: boolean;
}

export const Input = forwardRef<HTMLInputElement, InputProps>(function Input({ invalid, className, ...rest }, ref) {
  return (
    <input
      ref={ref}
      aria-invalid={invalid || undefined}
      className={cn(CONTROL, "h-11 2xl:h-13", invalid ? BORDER_ERR : BORDER_OK, className)}
      {...rest}
    />
  );
});

export interface TextareaProps extends TextareaHTMLAttributes<HTMLTextAreaElement> {
  invalid?: boolean;
}

export const Textarea = forwardRef<HTMLTextAreaElement, TextareaProps>(function Textarea({ invalid, className, ...rest }, ref) {
  return (
    <textarea
      ref={ref}
      aria-invalid={invalid || undefined}
      className={cn(CONTROL, "min-h-24 py-2.5", invalid ? BORDER_ERR : BORDER_OK, className)}
      {...rest}
    />
  );
});

export interface SelectProps extends SelectHTMLAttributes<HTMLSelectElement> {
  invalid?: boolean;
}

export const Select = forwardRef<HTMLSelectElement, SelectProps>(function Select({ invalid, className, children, ...rest }, ref) {
  return (
    <select
      ref={ref}
      aria-invalid={invalid || undefined}
      className={cn(CONTROL, "h-11 appearance-auto pr-8 2xl:h-13", invalid ? BORDER_ERR : BORDER_OK, className)}
      {...rest}
    >
      {children}
    </select>
  );
});

export interface FieldProps {
  label: ReactNode;
  /** The control: an <Input>, <Select> or <Textarea> (gets id, aria-describedby, aria-invalid). */
  children: ReactElement<{ id?: string; "aria-describedby"?: string; invalid?: boolean }>;
  /** A validation message, shown below and tied to the control with aria-describedby. */
  error?: string | null;
  /** A help text, also tied with aria-describedby. */
  hint?: ReactNode;
  /** Force an id for the control (otherwise generated). */
  id?: string;
  required?: boolean;
  className?: string;
}

/** A labelled form control with its hint and error tied to it for screen readers. */
export function Field({ label, children, error, hint, id, required, className }: FieldProps) {
  const generated = useId();
  const controlId = id ?? children.props.id ?? `f${generated}`;
  const hintId = hint ? `${controlId}-hint` : undefined;
  const errorId = error ? `${controlId}-error` : undefined;
  const describedBy = [children.props["aria-describedby"], hintId, errorId].filter(Boolean).join(" ") || undefined;
  const control = isValidElement(children)
    ? cloneElement(children, { id: controlId, "aria-describedby": describedBy, invalid: Boolean(error) || children.props.invalid })
    : children;
  return (
    <div className={cn("flex flex-col gap-1.5", className)}>
      <label htmlFor={controlId} className="text-sm font-medium text-fg 2xl:text-base">
        {label}
        {required ? (
          <span aria-hidden className="ml-0.5 text-danger">
            *
          </span>
        ) : null}
      </label>
      {control}
      {hint ? (
        <p id={hintId} className="text-xs text-fg-subtle 2xl:text-sm">
          {hint}
        </p>
      ) : null}
      {error ? (
        <p id={errorId} className="flex items-center gap-1 text-sm text-danger-soft">
          <span aria-hidden>⚠</span>
          {error}
        </p>
      ) : null}
    </div>
  );
}
