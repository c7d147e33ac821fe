// The component library: import from "@/components/ui".
export { cn } from "./cn";
export { Button, type ButtonProps, type ButtonVariant, type ButtonSize } from "./Button";
export { Card, CardHeader, type CardProps, type CardHeaderProps } from "./Card";
export { Pill, Badge, type PillProps, type PillTone, type BadgeProps } from "./Pill";
export { ProgressBar, type ProgressBarProps } from "./ProgressBar";
export { Avatar, avatarColors, initialsOf, hashString, type AvatarProps } from "./Avatar";
export { Spinner, type SpinnerProps } from "./Spinner";
export { Skeleton, type SkeletonProps } from "./Skeleton";
export { Field, Input, Select, Textarea, type FieldProps, type InputProps, type SelectProps, type TextareaProps } from "./Field";
export { StaleOverlay, type StaleOverlayProps } from "./StaleOverlay";
export { LiveDot, type LiveDotProps } from "./LiveDot";
export { AnimatedNumber, type AnimatedNumberProps } from "./AnimatedNumber";
export { EmptyState, type EmptyStateProps } from "./EmptyState";
export { Toaster } from "./Toaster";
export { Disclosure, type DisclosureProps } from "./Disclosure";
export { toast, dismissToast, type ToastInput, type ToastTone } from "@/stores/toasts";
