/**
 * Adding content to the IPFS node's Kubo RPC API from the browser, with the sdk's add query and
 * multipart form (CIDv1, raw leaves, the folder as its own root entry): the CIDs equal what the
 * CLI gets for the same files. Sent with XMLHttpRequest because `fetch` cannot report upload
 * progress. The node must allow the dApp's origin (its CORS setting; `npm start` sets it).
 */
import { folderAddEntries, kuboAddForm, kuboAddQuery } from "@tessellate/sdk";

export interface UploadProgress {
  /** Bytes of the request body sent so far, and in all (the multipart body, a little more than the files). */
  sent: number;
  total: number;
}

/** An upload that failed, in words a person can act on. */
export class UploadError extends Error {}

function apiUrl(ipfsApiUrl: string): string {
  const base = ipfsApiUrl.replace(/\/+$/, "");
  return base.endsWith("/api/v0") ? base : `${base}/api/v0`;
}

/** Posts one `add`; resolves with the CID of the entry named `rootPath` (or the last one when undefined). */
function postAdd(ipfsApiUrl: string, form: FormData, rootPath: string | undefined, onProgress?: (p: UploadProgress) => void, signal?: AbortSignal): Promise<string> {
  const url = `${apiUrl(ipfsApiUrl)}/add?${kuboAddQuery()}`;
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", url);
    xhr.upload.onprogress = (e) => onProgress?.({ sent: e.loaded, total: e.lengthComputable ? e.total : e.loaded });
    xhr.onerror = () =>
      reject(new UploadError(`the IPFS node at ${ipfsApiUrl} could not be reached, or it refused this page's origin (${location.origin}) — start it with this origin in its CORS setting (npm start does), or check TESSELLATE_IPFS_API_URL`));
    xhr.onabort = () => reject(new UploadError("the upload was cancelled"));
    xhr.onload = () => {
      if (xhr.status < 200 || xhr.status >= 300) {
        let message = xhr.responseText.trim();
        try {
          message = (JSON.parse(message) as { Message?: string }).Message ?? message;
        } catch {
          // not JSON: show the text
        }
        reject(new UploadError(`the IPFS node refused the upload (HTTP ${xhr.status}): ${message || "no reason given"}`));
        return;
      }
      let root: string | undefined;
      let last: string | undefined;
      for (const line of xhr.responseText.split("\n")) {
        if (line.trim() === "") continue;
        let item: { Hash?: unknown; Name?: unknown; Type?: unknown; Message?: unknown };
        try {
          item = JSON.parse(line);
        } catch {
          reject(new UploadError(`the IPFS node answered something that is not an add result: ${line.slice(0, 120)}`));
          return;
        }
        if (item.Type === "error") {
          reject(new UploadError(`the IPFS node failed the upload: ${String(item.Message)}`));
          return;
        }
        if (typeof item.Hash === "string") {
          last = item.Hash;
          if (rootPath !== undefined && item.Name === rootPath) root = item.Hash;
        }
      }
      const cid = rootPath === undefined ? last : root;
      if (cid === undefined) reject(new UploadError(`the IPFS node answered without the CID of ${rootPath ?? "the content"}`));
      else resolve(cid);
    };
    signal?.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(form);
  });
}

/**
 * Adds a scene folder: `files` with paths relative to the folder. The folder is the root entry
 * (its name is not part of its CID), exactly as the CLI's `addFolder` sends it.
 */
export function addSceneFolder(ipfsApiUrl: string, files: { path: string; file: Blob }[], onProgress?: (p: UploadProgress) => void, signal?: AbortSignal): Promise<string> {
  const rootName = "scene";
  const entries = folderAddEntries<Blob>(rootName, files.map((f) => ({ path: f.path, content: f.file })));
  return postAdd(ipfsApiUrl, kuboAddForm(entries), rootName, onProgress, signal);
}

/** Adds bytes as one file (the manifest), as the CLI's `addBytes` does. */
export function addBytes(ipfsApiUrl: string, bytes: Uint8Array, signal?: AbortSignal): Promise<string> {
  return postAdd(ipfsApiUrl, kuboAddForm([{ path: "", content: new Blob([bytes as Uint8Array<ArrayBuffer>]) }]), undefined, undefined, signal);
}
