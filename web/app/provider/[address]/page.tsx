import type { Metadata } from "next";
import { ProviderLookup } from "../../../components/ProviderLookup.tsx";

export const metadata: Metadata = { title: "Provider · Tessellate" };

export default async function ProviderAddressPage({ params }: { params: Promise<{ address: string }> }) {
  const { address } = await params;
  return <ProviderLookup address={decodeURIComponent(address)} />;
}
