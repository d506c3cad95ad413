/**
 * The AWS SDK's default credential provider, as the functions' bundles see it (esbuild aliases
 * `@aws-sdk/credential-provider-node` to this module; see lib/function-bundling.ts). On Lambda the
 * runtime puts the function role's credentials in the environment, so the SDK's chain (shared
 * config files, SSO, web identity, process, instance metadata, with the STS and SSO clients
 * they need) is never used there, yet it is a third of the bundle the function parses at every
 * cold start. The local server and the tools run from source with the whole chain.
 */
import { fromEnv } from "@aws-sdk/credential-provider-env";

export const defaultProvider = (): ReturnType<typeof fromEnv> => fromEnv();
