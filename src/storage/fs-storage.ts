/** Moved to ./fs/fs-storage.ts; this path stays for branches written before the move. */
export { FsStorage } from "./fs/fs-storage.js";
