/** Byte sizes, binary: the bench's payload sizes, metering steps and storage figures. */
export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
