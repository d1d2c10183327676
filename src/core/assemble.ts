import type { AppRouter, Deps, Plugin, PluginInstance, ServiceName, Services } from '../plugin.js';
import { pluginRouter, type RouteInfo } from './routes.js';

export interface AssembledPlugin {
  plugin: Plugin;
  /** The deps this plugin was created with: the app's, with a logger tagged by the plugin's name. */
  deps: Deps;
  instance: PluginInstance;
}

/** A plugin set that cannot run together: a needed service without a provider, or one provided twice. */
export class AssemblyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AssemblyError';
  }
}

/**
 * Creates each plugin for this app, in order, and fills deps.services from what they provide. A
 * service provided twice, or needed and provided by none, stops here with a message naming the
 * plugins, before anything listens or starts.
 */
export function assemblePlugins(deps: Deps, plugins: readonly Plugin[]): AssembledPlugin[] {
  const names = new Set<string>();
  for (const p of plugins) {
    if (names.has(p.name)) throw new AssemblyError(`Two plugins are named "${p.name}".`);
    names.add(p.name);
  }
  const providers = new Map<string, string>();
  const services = deps.services as unknown as Record<string, unknown>;
  const assembled: AssembledPlugin[] = [];
  for (const plugin of plugins) {
    const own: Deps = { ...deps, log: deps.log.child({ plugin: plugin.name }) };
    const instance = plugin.create(own);
    for (const [name, service] of Object.entries(instance.provides ?? {})) {
      const other = providers.get(name);
      if (other) throw new AssemblyError(`The service "${name}" is provided by both "${other}" and "${plugin.name}".`);
      providers.set(name, plugin.name);
      services[name] = service;
    }
    assembled.push({ plugin, deps: own, instance });
  }
  for (const plugin of plugins) {
    for (const need of plugin.needs ?? []) {
      if (!providers.has(need)) throw new AssemblyError(`The plugin "${plugin.name}" needs the service "${need}", which no plugin provides.`);
    }
  }
  return assembled;
}

/** Registers every plugin's parameter loaders, then its routes, on the app's router; returns the route table. */
export function registerRoutes(router: AppRouter, assembled: readonly AssembledPlugin[]): RouteInfo[] {
  const table: RouteInfo[] = [];
  const paramOwners = new Map<string, string>();
  for (const { plugin, instance } of assembled) {
    for (const [param, loader] of Object.entries(instance.params ?? {})) {
      const other = paramOwners.get(param);
      if (other) throw new AssemblyError(`The route parameter ":${param}" is loaded by both "${other}" and "${plugin.name}".`);
      paramOwners.set(param, plugin.name);
      router.param(param, loader);
    }
  }
  for (const { plugin, instance } of assembled) {
    instance.routes?.(pluginRouter(router, plugin.name, table));
    for (const a of instance.answers ?? []) table.push({ plugin: plugin.name, ...a, input: null, audit: null, source: `src/plugins/${plugin.name}/index.ts` });
  }
  return table;
}

/** An empty services object for deps, filled by assemblePlugins. */
export function emptyServices(): Services {
  return {} as Services;
}

export type { ServiceName };
