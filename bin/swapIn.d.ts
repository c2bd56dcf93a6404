export declare const swapIn: (building: string, target: string, targetIsComplete: () => boolean) => void
